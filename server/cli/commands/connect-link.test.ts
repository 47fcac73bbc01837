// `gatehouse connect link | unlink | status` and `gatehouse owner login-url` as child processes,
// against a real relay (with its dev issuer) and a real environment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { setSecurityMode } from '../../env/connect/security-mode.service';
import { startEnvironment, type EnvRuntime } from '../../env/env-app';
import { readRelayLink } from '../../env/link/link.service';
import { listenOnLoopback } from '../../identity/testing';
import { DEV_AUDIENCE, startRelay, type RelayRuntime } from '../../relay/relay-app';
import { clearRuntimeInfo, writeRuntimeInfo } from '../runtime-file';
import { corruptSecurityMode, runCli } from './cli-testing';

let dir: string;
let env: EnvRuntime;
let relay: RelayRuntime;
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);
const routed = (relayUrl: string) => `${relayUrl}/e/${env.environmentId}`;
const linkLine = (relayUrl: string, account: string) =>
  `Linked environment ${env.environmentId} to ${relayUrl} for account "${account}".\nClients reach it through the relay at ${routed(relayUrl)}.\n`;
const relayLinkOf = (r: RelayRuntime) => r.deps.store.getLink(env.environmentId);

/** The CLI sees no running environment while `use` runs (its runtime file is gone), then sees it again. */
async function whileStopped<T>(use: () => Promise<T>): Promise<T> {
  clearRuntimeInfo(dir);
  try {
    return await use();
  } finally {
    writeRuntimeInfo(dir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId });
  }
}

/** Redeems a login URL's code the way the login page does: 200 and an owner session cookie. */
async function logIn(url: string): Promise<Response> {
  const code = new URL(url).hash.slice('#code='.length);
  return fetch(`${env.publicUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: env.publicUrl }, body: JSON.stringify({ code }) });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-link-cli-'));
  relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true });
  env = await startEnvironment({ dataDir: dir, port: 0 });
  writeRuntimeInfo(dir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId });
});
afterAll(async () => {
  await env?.close();
  await relay?.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each test spawns several CLI processes (node + tsx, 1–4 s each depending on load).
describe('connect link, unlink and status', { timeout: 120_000 }, () => {
  it('status before any link: not linked, says how to link, and shows the mode line', async () => {
    const [human, json] = await Promise.all([cli('connect', 'status'), cli('connect', 'status', '--json')]);
    expect(human).toEqual({
      code: 0,
      stdout:
        `Environment   ${env.environmentId} (running at ${env.publicUrl})\n` +
        'Relay         not linked — link with: npx gatehouse connect link --relay URL --account NAME\n' +
        'tunnel: not linked to a relay\n' +
        'Client approval: account-wide\n',
      stderr: '',
    });
    expect(json).toEqual({
      code: 0,
      stderr: '',
      stdout: `${JSON.stringify({ linked: false, accountId: null, relayUrl: null, routedEndpoint: null, environmentId: env.environmentId, connectSecurityMode: 'account', tunnel: { state: 'unlinked' } })}\n`,
    });

    // An unreadable mode does not hide the rest: the line says how to reset it, the JSON says null.
    corruptSecurityMode(env.deps, 'open-to-all');
    try {
      const [brokenHuman, brokenJson] = await Promise.all([cli('connect', 'status'), cli('connect', 'status', '--json')]);
      expect(brokenHuman).toMatchObject({ code: 0, stderr: '' });
      expect(brokenHuman.stdout).toMatch(/\nClient approval: unknown — The stored Connect security mode "open-to-all" is not a known mode\. Reset it with `npx gatehouse connect security --mode client-approval`/);
      expect(JSON.parse(brokenJson.stdout)).toMatchObject({ linked: false, connectSecurityMode: null });
    } finally {
      setSecurityMode(env.deps, 'account', 'web');
    }
  });

  it('links for a dev account, shows it in status, and refuses another account until unlinked', async () => {
    expect(await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice', '--json')).toEqual({
      code: 0,
      stdout: `${JSON.stringify({ environmentId: env.environmentId, accountId: 'alice', relayUrl: relay.publicUrl, routedEndpoint: routed(relay.publicUrl) })}\n`,
      stderr: '',
    });
    // Both sides hold the link; the relay holds no direct endpoint: clients come through the tunnel.
    expect(readRelayLink(env.deps)).toMatchObject({ relayUrl: relay.publicUrl, accountId: 'alice', routedEndpoint: routed(relay.publicUrl) });
    expect(await relayLinkOf(relay)).toMatchObject({ accountId: 'alice', endpoint: null });
    // The running environment notices the new link and opens its tunnel by itself.
    await vi.waitFor(() => expect(relay.deps.tunnels.has(env.environmentId)).toBe(true), { timeout: 10_000 });
    // Linking again for the same account is fine (a trailing slash on the URL is dropped).
    expect(await cli('connect', 'link', '--relay', `${relay.publicUrl}/`, '--account', 'alice')).toEqual({ code: 0, stdout: linkLine(relay.publicUrl, 'alice'), stderr: '' });

    setSecurityMode(env.deps, 'client-approval', 'web');
    const [human, json] = await Promise.all([cli('connect', 'status'), cli('connect', 'status', '--json')]);
    expect(human).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        new RegExp(
          `^Environment   ${env.environmentId} \\(running at ${env.publicUrl}\\)\nRelay         ${relay.publicUrl}, account "alice"\nEndpoint      ${routed(relay.publicUrl)} \\(through the relay\\)\n` +
            `tunnel: connected to ${relay.publicUrl} since \\S+ \\(last PING answered \\S+\\)\nClient approval: required\n$`,
        ),
      ),
      stderr: '',
    });
    expect(JSON.parse(json.stdout)).toMatchObject({
      linked: true,
      accountId: 'alice',
      relayUrl: relay.publicUrl,
      routedEndpoint: routed(relay.publicUrl),
      environmentId: env.environmentId,
      connectSecurityMode: 'client-approval',
      tunnel: { state: 'connected', relayUrl: relay.publicUrl },
    });

    const conflict = await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'bob', '--json');
    expect(conflict).toEqual({
      code: 1,
      stdout: '',
      stderr: `gatehouse: The relay at ${relay.publicUrl} refused the link (409 conflict): this environment is linked there for account "alice". Run \`npx gatehouse connect unlink\` first, then link again.\n`,
    });
    expect(readRelayLink(env.deps)).toMatchObject({ accountId: 'alice' });
    expect(await relayLinkOf(relay)).toMatchObject({ accountId: 'alice' });
  });

  it('unlinks on both sides (clients and mode kept), then links for another account with an ID token', async () => {
    expect(await cli('connect', 'unlink', '--json')).toEqual({ code: 0, stdout: '{"linked":false}\n', stderr: '' });
    expect(readRelayLink(env.deps)).toBeNull();
    expect(await relayLinkOf(relay)).toBeNull();
    expect(JSON.parse((await cli('connect', 'status', '--json')).stdout)).toMatchObject({ linked: false, accountId: null, relayUrl: null, connectSecurityMode: 'client-approval' });
    // Nothing left to unlink: says so, and the JSON is the same.
    const [again, againJson] = await Promise.all([cli('connect', 'unlink'), cli('connect', 'unlink', '--json')]);
    expect(again).toEqual({ code: 0, stdout: 'Not linked to a relay; nothing to unlink.\n', stderr: '' });
    expect(againJson).toEqual({ code: 0, stdout: '{"linked":false}\n', stderr: '' });

    const idToken = await relay.devIssuer!.issueIdToken('bob');
    expect(await cli('connect', 'link', '--relay', relay.publicUrl, '--id-token', idToken)).toEqual({ code: 0, stdout: linkLine(relay.publicUrl, 'bob'), stderr: '' });
    expect(await relayLinkOf(relay)).toMatchObject({ accountId: 'bob' });
    expect(await cli('connect', 'unlink')).toEqual({ code: 0, stdout: 'Unlinked. Clients and the security mode are kept.\n', stderr: '' });
    expect(await relayLinkOf(relay)).toBeNull();
  });

  it('an unlink the relay never heard of: says so, and the later 409 says how to clear it', async () => {
    const relayDir = join(dir, 'other-relay');
    const issuer = { issuer: relay.devIssuer!.issuer, audience: DEV_AUDIENCE };
    let other = await startRelay({ dataDir: relayDir, port: 0, accountIssuer: issuer });
    try {
      const carol = await relay.devIssuer!.issueIdToken('carol');
      expect((await cli('connect', 'link', '--relay', other.publicUrl, '--id-token', carol)).code).toBe(0);
      await other.close();
      expect(await cli('connect', 'unlink')).toEqual({
        code: 0,
        stdout: 'Unlinked here; the relay could not be reached, so it may still list the link until you link again.\n',
        stderr: '',
      });
      expect(readRelayLink(env.deps)).toBeNull();

      // The same relay data on a new port still holds carol's link.
      other = await startRelay({ dataDir: relayDir, port: 0, accountIssuer: issuer });
      const dave = await relay.devIssuer!.issueIdToken('dave');
      expect(await cli('connect', 'link', '--relay', other.publicUrl, '--id-token', dave)).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `gatehouse: The relay at ${other.publicUrl} refused the link (409 conflict): it still holds a link of this environment for another account (an earlier unlink could not reach it). ` +
          'Link again for that account, then run `npx gatehouse connect unlink` while the relay is reachable.\n',
      });
      // Following that advice works.
      expect((await cli('connect', 'link', '--relay', other.publicUrl, '--id-token', carol)).code).toBe(0);
      expect(await cli('connect', 'unlink')).toEqual({ code: 0, stdout: 'Unlinked. Clients and the security mode are kept.\n', stderr: '' });
      expect(await relayLinkOf(other)).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('usage mistakes exit 2; a relay without a dev issuer, a non-relay URL and a dead relay say what to do', async () => {
    const noDevIssuer = await startRelay({ dataDir: join(dir, 'plain-relay'), port: 0, accountIssuer: { issuer: relay.devIssuer!.issuer, audience: DEV_AUDIENCE } });
    const notARelay = await listenOnLoopback((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Some site</title>'));
    try {
      const [both, neither, noRelay, badUrl, noDev, notRelay] = await Promise.all([
        cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice', '--id-token', 'x.y.z'),
        cli('connect', 'link', '--relay', relay.publicUrl),
        cli('connect', 'link', '--account', 'alice'),
        cli('connect', 'link', '--relay', 'ftp://relay.example', '--account', 'alice'),
        cli('connect', 'link', '--relay', noDevIssuer.publicUrl, '--account', 'alice'),
        cli('connect', 'link', '--relay', notARelay.url, '--id-token', 'x.y.z'),
      ]);
      expect(both).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: Pass at most one of --account NAME (dev issuer) or --id-token JWT.\n' });
      // Neither, and no stored sign-in (stdin is not a terminal here): it says how to sign in.
      expect(neither).toEqual({ code: 1, stdout: '', stderr: `gatehouse: Not signed in to ${relay.publicUrl}'s account issuer. Run: npx gatehouse login --relay ${relay.publicUrl}\n` });
      expect(noRelay).toMatchObject({ code: 2, stderr: expect.stringContaining("required option '--relay <url>' not specified") });
      expect(badUrl).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: --relay must be http or https.\n' });
      expect(noDev).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: The relay at ${noDevIssuer.publicUrl} has no dev issuer (The dev issuer is not enabled on this relay.). Pass --id-token with an ID token from your account’s OpenID provider instead.\n`,
      });
      expect(notRelay).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: ${notARelay.url} did not answer like a Gatehouse relay. Check the --relay URL (the relay’s own URL, for example http://127.0.0.1:4200).\n`,
      });
    } finally {
      await noDevIssuer.close();
      await notARelay.close();
    }
    const deadUrl = noDevIssuer.publicUrl;
    const [deadDev, deadToken, noData] = await Promise.all([
      cli('connect', 'link', '--relay', deadUrl, '--account', 'alice'),
      cli('connect', 'link', '--relay', deadUrl, '--id-token', 'x.y.z'),
      runCli(['connect', 'link', '--relay', deadUrl, '--account', 'alice', '--data-dir', join(dir, 'nothing-here')]),
    ]);
    // No environment here is the first thing to fix, before any relay is asked.
    expect(noData).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^gatehouse: No environment data in .*nothing-here\. Start one with/) });
    expect(deadDev).toMatchObject({ code: 1, stdout: '', stderr: `gatehouse: Could not reach the dev issuer at ${deadUrl}/dev-issuer. Is the relay running (npm start)? Or pass --id-token from your OpenID provider.\n` });
    expect(deadToken).toMatchObject({ code: 1, stdout: '', stderr: `gatehouse: Could not reach the relay at ${deadUrl} (the discovery request). Is it running?\n` });
    expect(readRelayLink(env.deps)).toBeNull();
  });

  it('a damaged stored link: status says how to recover, and unlink does recover', async () => {
    expect((await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice')).code).toBe(0);
    env.deps.db.$client.prepare("UPDATE relay_link SET relay_public_key = 'not json'").run();
    const unreadable = 'gatehouse: The stored relay link is unreadable. Run `npx gatehouse connect unlink` and link again.\n';
    expect(await cli('connect', 'status')).toEqual({ code: 1, stdout: '', stderr: unreadable });
    expect(await cli('connect', 'unlink')).toEqual({
      code: 0,
      stdout: 'Removed the unreadable relay link here; the relay may still list it until you link again.\n',
      stderr: '',
    });
    expect(readRelayLink(env.deps)).toBeNull();
    // As promised: linking again (same account) replaces the relay's copy, and a clean unlink removes it.
    expect((await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice')).code).toBe(0);
    expect((await cli('connect', 'unlink')).code).toBe(0);
    expect(await relayLinkOf(relay)).toBeNull();
  });

  it('status and link with the environment stopped: read the database and say so', async () => {
    await whileStopped(async () => {
      const status = await cli('connect', 'status');
      expect(status).toMatchObject({ code: 0, stderr: '' });
      expect(status.stdout).toMatch(new RegExp(`^Environment   ${env.environmentId} \\(not running\\)\n`));

      const linked = await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice');
      expect(linked).toEqual({ code: 0, stdout: linkLine(relay.publicUrl, 'alice'), stderr: 'The environment is not running: its tunnel opens when you start it (npx gatehouse env start).\n' });
      expect(await relayLinkOf(relay)).toMatchObject({ endpoint: null });
      // A direct endpoint as well, for an environment with its own public address.
      const direct = await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice', '--direct-endpoint', 'https://laptop.example.net/gh');
      expect(direct).toMatchObject({ code: 0 });
      expect(direct.stdout).toContain(`(or directly at https://laptop.example.net/gh)`);
      expect(await relayLinkOf(relay)).toMatchObject({ endpoint: 'https://laptop.example.net/gh' });
      // One that could pick a path on the relay's network is refused by the relay, with its reason.
      const sneaky = await cli('connect', 'link', '--relay', relay.publicUrl, '--account', 'alice', '--direct-endpoint', 'http://10.0.0.1/#');
      expect(sneaky.code).toBe(1);
      expect(sneaky.stderr).toContain('without userinfo, query or fragment');
      expect((await cli('connect', 'unlink')).code).toBe(0);
    });
  });
});

describe('owner login-url', { timeout: 120_000 }, () => {
  it('prints a one-time link on the running environment whose code logs in, once', async () => {
    const [human, json] = await Promise.all([cli('owner', 'login-url'), cli('owner', 'login-url', '--json')]);
    const loginUrl = new RegExp(`^${env.publicUrl}/login#code=[A-Za-z0-9_-]{43}$`);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout.trimEnd()).toMatch(loginUrl);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const { url } = JSON.parse(json.stdout) as { url: string };
    expect(Object.keys(JSON.parse(json.stdout))).toEqual(['url']);
    expect(url).toMatch(loginUrl);

    for (const link of [human.stdout.trimEnd(), url]) {
      const res = await logIn(link);
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toMatch(/^gatehouse_owner=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
    }
    expect((await logIn(url)).status).toBe(401);
  });

  it('with the environment stopped: a link for where it will run, and a note to start it first', async () => {
    const stopped = await whileStopped(() => runCli(['owner', 'login-url', '--json', '--data-dir', dir], { GATEHOUSE_ENV_PORT: '4321' }));
    expect(stopped).toMatchObject({ code: 0, stderr: 'The environment is not running: start it (npm start) before opening the link; it stays valid for 10 minutes.\n' });
    const { url } = JSON.parse(stopped.stdout) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:4321\/login#code=[A-Za-z0-9_-]{43}$/);
    // The code is in the database, so it works once the environment runs.
    expect((await logIn(url)).status).toBe(200);

    const noData = await runCli(['owner', 'login-url', '--data-dir', join(dir, 'nothing-here')]);
    expect(noData).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^gatehouse: No environment data in .*nothing-here\. Start one with/) });
  });
});

// The newcomer's CLI path as child processes (issue 17 items 14–15): `gatehouse start --json` on
// non-default ports prints one object; `client connect` finds that environment and its relay from the
// data directory alone; a relay where the environment is not linked is named in the error; a taken
// port says which flags pick others; the verification code appears only when an owner is asked.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RelayRuntime } from '../../relay/relay-app';
import { runCli, startCli, type CliProcess } from './cli-testing';

interface StartFacts {
  environmentId: string;
  environmentUrl: string;
  relayUrl: string;
  accountId: string;
  endpoint: string;
  devicePageUrl: string;
  settingsUrl: string;
  loginUrl: string;
  devIssuerUrl: string;
  dataDir: string;
}

const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;
let dir: string;
let data: string;
let start: CliProcess;
let facts: StartFacts;
let otherRelay: RelayRuntime;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-newcomer-'));
  data = join(dir, 'data');
  start = startCli(['start', '--json', '--data-dir', data, '--env-port', '0', '--relay-port', '0']);
  facts = JSON.parse(await start.waitForLine(() => true)) as StartFacts;
  otherRelay = await startRelay({ dataDir: join(dir, 'other-relay'), port: 0, devIssuer: true });
}, 60_000);
afterAll(async () => {
  await start?.interrupt();
  await otherRelay?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse start --json, then client connect from the same data directory', { timeout: 90_000 }, () => {
  it('--json prints one object with the URLs and ids, on the ports it picked', () => {
    expect(facts).toEqual({
      environmentId: expect.stringMatching(/^env_[a-z2-7]{26}$/),
      // localhost, not 127.0.0.1: WebAuthn takes no IP address as a relying party (passkeys).
      environmentUrl: expect.stringMatching(/^http:\/\/localhost:\d+$/),
      relayUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      accountId: 'owner',
      endpoint: `${facts.relayUrl}/e/${facts.environmentId}`,
      devicePageUrl: expect.stringMatching(/^http:\/\/[a-z2-7]{26}\.localhost:\d+\/device$/),
      settingsUrl: `${facts.environmentUrl}/settings/connections`,
      loginUrl: expect.stringMatching(new RegExp(`^${facts.environmentUrl}/login#code=\\S+$`)),
      devIssuerUrl: `${facts.relayUrl}/dev-issuer`,
      dataDir: data,
    });
    expect(facts.relayUrl).not.toBe('http://127.0.0.1:4200');
  });

  it('the environment is named localhost (a passkey RP id); its pages asked for as 127.0.0.1 redirect there', async () => {
    const port = new URL(facts.environmentUrl).port;
    const viaIp = await fetch(`http://127.0.0.1:${port}/login?next=1`, { redirect: 'manual' });
    expect(viaIp.status).toBe(308);
    expect(viaIp.headers.get('location')).toBe(`${facts.environmentUrl}/login?next=1`);
    const own = await fetch(`${facts.environmentUrl}/login`, { redirect: 'manual' });
    expect(own.status).toBe(200);
    // Another name (not a loopback alias of this port) is not redirected anywhere.
    const other = await new Promise<{ status: number; location: string | undefined }>((done, fail) => {
      const req = request({ host: '127.0.0.1', port, path: '/login', headers: { host: `evil.example:${port}` } }, (res) => {
        res.resume();
        done({ status: res.statusCode ?? 0, location: res.headers.location });
      });
      req.once('error', fail).end();
    });
    expect(other).toEqual({ status: 200, location: undefined });
    // tRPC calls are never redirected (a 308 would resend bodies elsewhere).
    const api = await fetch(`http://127.0.0.1:${port}/trpc/connect.securityMode.get`, { redirect: 'manual' });
    expect(api.status).toBe(401);
  });

  it('client connect needs no --environment or --relay: the data directory names both; account mode shows no code', async () => {
    const result = await runCli(['client', 'connect', '--account', 'owner', '--data-dir', data, '--key-file', join(dir, 'account-key.json')]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`Relay ${facts.relayUrl} (the one the environment running on ${data} uses).`);
    expect(result.stdout).toContain(`Connected to ${facts.environmentId} at ${facts.endpoint}.`);
    // Nobody is asked in account mode, so there is no code to compare.
    expect(result.stdout).not.toContain('Verification');
    const whoami = /^whoami {8}(.*)$/m.exec(result.stdout)?.[1] ?? '';
    expect(whoami).toMatch(new RegExp(`^client \\S{43}, scopes environment:use, session expires ${ISO.source}$`));
    expect(whoami).not.toMatch(/\d{13}/); // no epoch milliseconds in text
    const json = await runCli(['client', 'connect', '--account', 'owner', '--data-dir', data, '--key-file', join(dir, 'account-key.json'), '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'authorized', whoami: { environmentId: facts.environmentId, expiresAt: expect.any(Number) } });
  });

  it('a relay the environment is not linked to is named in the error', async () => {
    const result = await runCli(['client', 'connect', '--account', 'owner', '--data-dir', data, '--relay', otherRelay.publicUrl, '--key-file', join(dir, 'other-key.json')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`gatehouse: This environment is not linked to your account at the relay ${otherRelay.publicUrl}.`);
    const noEnv = await runCli(['client', 'connect', '--data-dir', join(dir, 'empty')]);
    expect(noEnv).toMatchObject({ code: 2, stdout: '' });
    expect(noEnv.stderr).toContain('Pass --environment ID');
  });

  it('in client-approval mode the code is shown, and approve --code lets that device in, naming it', async () => {
    expect(await runCli(['connect', 'security', '--mode', 'client-approval', '--data-dir', data])).toMatchObject({ code: 0 });
    const device = startCli(['client', 'connect', '--account', 'owner', '--data-dir', data, '--key-file', join(dir, 'tablet-key.json'), '--label', 'Kitchen iPad']);
    const code = /^Verification {2}([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}) /.exec(await device.waitForLine((l) => l.startsWith('Verification')))![1]!;
    await device.waitForLine((l) => l.startsWith('Waiting for approval'));
    const thumbprint = /^Client {8}(\S+)$/.exec(device.lines.find((l) => l.startsWith('Client'))!)![1]!;
    const approved = await runCli(['connect', 'security', 'approve', '--code', code.toLowerCase().replace('-', ''), '--data-dir', data]);
    expect(approved).toEqual({ code: 0, stdout: `Approved Connect client "Kitchen iPad" (code ${code}, ${thumbprint}).\n`, stderr: '' });
    const done = await device.exited;
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`Connected to ${facts.environmentId}`);
  });

  it('a port in use says which flags pick others; --version prints the package version', async () => {
    const relayPort = new URL(facts.relayUrl).port;
    const envPort = new URL(facts.environmentUrl).port;
    const [both, envOnly, version] = await Promise.all([
      runCli(['start', '--data-dir', join(dir, 'second'), '--relay-port', relayPort, '--env-port', '0']),
      runCli(['env', 'start', '--data-dir', join(dir, 'third'), '--port', envPort]),
      runCli(['--version']),
    ]);
    expect(both).toEqual({
      code: 1,
      stdout: '',
      stderr: `gatehouse: The relay port 127.0.0.1:${relayPort} is already in use (another Gatehouse still running?). Stop that one, or pick other ports: --env-port N --relay-port N (0 picks a free one).\n`,
    });
    expect(envOnly).toMatchObject({ code: 1, stdout: '' });
    expect(envOnly.stderr).toContain(`The environment port 127.0.0.1:${envPort} is already in use`);
    expect(envOnly.stderr).toContain('--port N (0 picks a free one)');
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    // All along, `start --json` wrote that one object and nothing else to stdout (its logs go to stderr).
    expect(start.lines).toHaveLength(1);
    expect(start.stderr()).toContain(`tunnel: connected to ${facts.relayUrl}`);
  });
});

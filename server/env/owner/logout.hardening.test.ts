// S63 owner sign-out: `POST /logout` (same-origin only) ends the session server-side, its open event
// streams included, and clears the cookie; `owner.logoutAll` and `gatehouse owner logout --all` end
// every owner session. Real servers, real login codes, real cookies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/commands/cli-testing';
import { writeRuntimeInfo } from '../../cli/runtime-file';
import { probe } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';
import { startEnvironment } from '../env-app';
import { createLoginCode, redeemLoginCode } from './owner-auth.service';
import { listAudit } from '../audit/audit.service';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  writeRuntimeInfo(stack.env.dataDir, { pid: process.pid, url: stack.env.publicUrl, environmentId: stack.env.environmentId });
});
afterAll(() => stack.close());

const env = () => stack.env.publicUrl;

async function login(): Promise<string> {
  const code = new URL(stack.env.loginUrl()).hash.replace('#code=', '');
  const res = await probe(`${env()}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: env() }, body: JSON.stringify({ code }) });
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

const listAs = async (cookie: string) => (await probe(`${env()}/trpc/connect.clients.list`, { headers: { cookie } })).status;
const logout = (headers: Record<string, string>, method = 'POST') => probe(`${env()}/logout`, { method, headers });

/** An open access.events stream of `cookie`: resolves `ended` when the server closes it. */
async function openStream(cookie: string): Promise<{ ended: Promise<string>; text(): string; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(`${env()}/trpc/access.events?input=${encodeURIComponent('{}')}`, { headers: { cookie }, signal: abort.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return text;
      text += new TextDecoder().decode(value);
    }
  })();
  return { ended, text: () => text, close: () => abort.abort() };
}

describe('S63 POST /logout', () => {
  it('S63 ends the session server-side, closes its open streams, clears the cookie; another session carries on', async () => {
    const [mine, other] = [await login(), await login()];
    expect([await listAs(mine), await listAs(other)]).toEqual([200, 200]);
    const [myStream, otherStream] = [await openStream(mine), await openStream(other)];
    const res = await logout({ cookie: mine, origin: env() });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, redirect: '/settings/connections' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    const cleared = res.headers.get('set-cookie')!.split(';').map((p) => p.trim());
    expect(cleared).toEqual(expect.arrayContaining(['gatehouse_owner=', 'HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=0']));
    await expect(myStream.ended).resolves.toMatch(/"type":"snapshot"/); // it had been live, and now it ended
    expect(await listAs(mine)).toBe(401); // the old cookie, replayed, is worthless
    expect(listAudit(stack.env.deps)[0]).toMatchObject({ actor: 'web', action: 'owner_signed_out', detail: { all: false, endedSessions: 1 } });
    expect(await listAs(other)).toBe(200);
    // The other session's stream is still open: an event still reaches it.
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    await expect.poll(() => otherStream.text()).toMatch(/connectSecurityModeUpdated/);
    otherStream.close();
  });

  it('S63 a cross-site or Origin-less sign-out is refused and ends nothing; GET does not sign out; without a session it answers alike', async () => {
    const cookie = await login();
    const refused: Array<Record<string, string>> = [{ cookie, origin: 'http://evil.example' }, { cookie, origin: 'null' }, { cookie }, { cookie, 'sec-fetch-site': 'cross-site' }];
    for (const headers of refused) {
      expect((await logout(headers)).status, JSON.stringify(headers)).toBe(403);
    }
    expect((await logout({ cookie, origin: env() }, 'GET')).status).toBe(404);
    expect(await listAs(cookie)).toBe(200);
    const strangers: Array<Record<string, string>> = [{ origin: env() }, { origin: env(), cookie: 'gatehouse_owner=forged-token-that-is-long-enough' }, { origin: env(), cookie: `gatehouse_owner=${'x'.repeat(5000)}` }];
    for (const headers of strangers) {
      const res = await logout(headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    }
    expect(await listAs(cookie)).toBe(200);
  });
});

describe('S63 signing out every owner session', () => {
  it('S63 owner.logoutAll ends every cookie session and its streams, answers how many, and leaves the admin token working; a cross-site cookie cannot call it', async () => {
    const cookies = [await login(), await login(), await login()];
    const streams = await Promise.all(cookies.map(openStream));
    const crossSite = await probe(`${env()}/trpc/owner.logoutAll`, { method: 'POST', headers: { cookie: cookies[0]!, origin: 'http://evil.example', 'content-type': 'application/json' }, body: '{}' });
    expect(crossSite.status).toBe(403);
    const all = await stack.owner.owner.logoutAll.mutate();
    expect(all.endedSessions).toBeGreaterThanOrEqual(3);
    expect(listAudit(stack.env.deps)[0]).toMatchObject({ action: 'owner_signed_out', detail: { all: true, endedSessions: all.endedSessions } });
    await Promise.all(streams.map((s) => s.ended));
    for (const cookie of cookies) expect(await listAs(cookie)).toBe(401);
    expect((await probe(`${env()}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } })).status).toBe(200);
  });

  it('S63 `gatehouse owner logout --all` through the running env and on a stopped one; without --all it is a usage error', { timeout: 60_000 }, async () => {
    const cookies = [await login(), await login()];
    const human = await runCli(['owner', 'logout', '--all', '--data-dir', stack.env.dataDir]);
    expect(human).toEqual({ code: 0, stdout: 'Signed out 2 owner sessions.\n', stderr: '' });
    expect(listAudit(stack.env.deps)[0]).toMatchObject({ actor: 'cli', action: 'owner_signed_out', detail: { all: true, endedSessions: 2 } });
    for (const cookie of cookies) expect(await listAs(cookie)).toBe(401);
    const usage = await runCli(['owner', 'logout', '--data-dir', stack.env.dataDir]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/pass --all/);

    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-logout-'));
    const stopped = await startEnvironment({ dataDir: dir, port: 0 });
    redeemLoginCode(stopped.deps, createLoginCode(stopped.deps).code);
    await stopped.close();
    try {
      const json = await runCli(['owner', 'logout', '--all', '--json', '--data-dir', dir]);
      expect(json).toEqual({ code: 0, stdout: '{"endedSessions":1}\n', stderr: 'No running environment; changed the database directly.\n' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

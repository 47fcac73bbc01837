// Passkeys over the real HTTP surface: register from a signed-in session, sign in at /login/passkey,
// and the step-up on approve (FORBIDDEN step_up_required, then a verification, then it goes through).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../common/clock';
import { probe } from '../../testing/http-probe';
import { requestClient } from '../connect/client-requests.service';
import { findActiveClient } from '../connect/clients.service';
import { listOpenInvites } from '../connect/invites.service';
import { getSecurityMode } from '../connect/security-mode.service';
import { listWebhooks } from '../webhooks/webhooks.service';
import { startEnvironment, type EnvRuntime } from '../env-app';
import { fakeThumbprint } from '../testing';
import { softAuthenticator } from './soft-authenticator.testing';
import { STEP_UP_WINDOW_MS } from './step-up';

let env: EnvRuntime;
let dir: string;
const clock = manualClock(Date.now());
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-passkeys-'));
  env = await startEnvironment({ dataDir: dir, port: 0, tunnel: false, clock });
});
afterAll(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

const origin = () => env.publicUrl;
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  probe(`${origin()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin: origin(), ...headers }, body: JSON.stringify(body) });
const trpc = async (path: string, cookie: string, input?: unknown) => {
  const res = await post(`/trpc/${path}`, input ?? {}, { cookie });
  return { status: res.status, data: (res.body?.result as { data?: unknown } | undefined)?.data as Record<string, unknown>, error: res.body?.error as { data?: { reason?: string } } | undefined };
};
async function linkLogin(): Promise<string> {
  const code = new URL(env.loginUrl()).hash.replace('#code=', '');
  return (await post('/login', { code })).headers.get('set-cookie')!.split(';')[0]!;
}

describe('passkeys over HTTP (SPEC §14, S60)', () => {
  it('register, sign in with the passkey, and approve only after a fresh verification', async () => {
    const auth = softAuthenticator();
    const linkCookie = await linkLogin();
    const options = await trpc('owner.passkeys.registrationOptions', linkCookie);
    expect(options.status).toBe(200);
    expect(options.data.rp).toMatchObject({ id: new URL(origin()).hostname });
    const registered = await trpc('owner.passkeys.register', linkCookie, { name: 'Laptop', response: auth.register(options.data as { challenge: string }, origin()) });
    expect(registered).toMatchObject({ status: 200, data: { name: 'Laptop' } });

    // Sign in at /login with the passkey: no link needed.
    const loginOptions = await post('/login/passkey/options', {});
    expect(loginOptions.status).toBe(200);
    const signedIn = await post('/login/passkey', { response: auth.assert(loginOptions.body as { challenge: string }, origin()) });
    expect(signedIn.status).toBe(200);
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    expect(signedIn.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);

    const T = fakeThumbprint(11);
    requestClient(env.deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    clock.advance(STEP_UP_WINDOW_MS + 1);
    const refused = await trpc('connect.clients.approve', cookie, { clientProofKeyThumbprint: T });
    expect(refused.status).toBe(403);
    expect(refused.error?.data?.reason).toBe('step_up_required');
    const stepOptions = await trpc('owner.stepUp.options', cookie);
    expect((await trpc('owner.stepUp.verify', cookie, { response: auth.assert(stepOptions.data as { challenge: string }, origin()) })).status).toBe(200);
    expect((await trpc('connect.clients.approve', cookie, { clientProofKeyThumbprint: T })).status).toBe(200);
    // The link's session has not stepped up since: it is still refused.
    expect((await trpc('connect.clients.revoke', linkCookie, { clientProofKeyThumbprint: T })).status).toBe(200);
    requestClient(env.deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    expect((await trpc('connect.clients.approve', linkCookie, { clientProofKeyThumbprint: T })).error?.data?.reason).toBe('step_up_required');
    // The CLI's admin token is exempt.
    const admin = await probe(`${origin()}/trpc/connect.clients.approve`, { method: 'POST', headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json', 'x-gatehouse-actor': 'cli' }, body: JSON.stringify({ clientProofKeyThumbprint: T }) });
    expect(admin.status).toBe(200);
  });

  it('with a passkey, every dangerous owner action waits for a fresh verification; the admin token does not', async () => {
    // The first test registered a passkey; this session signed in by link and never stepped up.
    const cookie = await linkLogin();
    expect((await trpc('connect.securityMode.set', cookie, { mode: 'client-approval' })).status).toBe(200); // closing up needs none
    const T = fakeThumbprint(12);
    requestClient(env.deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    const guarded: [string, unknown][] = [
      ['connect.clients.approve', { clientProofKeyThumbprint: T }],
      ['connect.clients.approveConnected', { clientProofKeyThumbprints: [T] }],
      ['connect.clients.setApprover', { clientProofKeyThumbprint: T, approver: true }],
      ['connect.securityMode.set', { mode: 'account' }],
      ['connect.invites.create', { label: 'kitchen', expiresInSeconds: 600 }],
      ['connect.webhooks.create', { url: 'https://hooks.example.com/x', events: ['client.pending'], format: 'json' }],
      ['owner.passkeys.registrationOptions', undefined],
    ];
    for (const [path, input] of guarded) {
      const refused = await trpc(path, cookie, input);
      expect({ path, status: refused.status, reason: refused.error?.data?.reason }).toEqual({ path, status: 403, reason: 'step_up_required' });
    }
    // Nothing happened: the device still waits, the mode is unchanged, no invite or webhook exists.
    expect(findActiveClient(env.deps.db, T)?.status).toBe('pending');
    expect(getSecurityMode(env.deps.db)).toBe('client-approval');
    expect(listOpenInvites(env.deps)).toEqual([]);
    expect(listWebhooks(env.deps)).toEqual([]);
    // Safe changes need no step-up.
    expect((await trpc('connect.clients.reject', cookie, { clientProofKeyThumbprint: T })).status).toBe(200);
    const admin = await probe(`${origin()}/trpc/connect.invites.create`, { method: 'POST', headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json', 'x-gatehouse-actor': 'cli' }, body: JSON.stringify({ label: 'cli', expiresInSeconds: 600 }) });
    expect(admin.status).toBe(200);
  });

  it('refuses cross-site and malformed passkey sign-ins cleanly, and the admin token cannot run a ceremony', async () => {
    expect((await post('/login/passkey/options', {}, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('/login/passkey', { response: 'nope' })).status).toBe(400);
    const junk = await post('/login/passkey', { response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' } } });
    expect(junk.status).toBe(401);
    expect(junk.text).not.toMatch(/\n\s+at /);
    const admin = await probe(`${origin()}/trpc/owner.stepUp.options`, { method: 'POST', headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json' }, body: '{}' });
    expect(admin.status).toBe(403);
  });
});

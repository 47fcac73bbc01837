import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../common/secrets';
import { listAudit } from '../audit/audit.service';
import { requestClient } from '../connect/client-requests.service';
import { ownerSessions } from '../db/schema';
import { createTestDeps, fakeThumbprint, ownerContext } from '../testing';
import { envRouter } from '../trpc/app-router';
import { createLoginCode, redeemLoginCode, resolveOwnerSession } from './owner-auth.service';
import {
  authenticationOptions,
  CHALLENGE_TTL_MS,
  listPasskeys,
  loginWithPasskey,
  registrationOptions,
  removePasskey,
  renamePasskey,
  stepUp,
  verifyRegistration,
} from './passkeys.service';
import { softAuthenticator } from './soft-authenticator.testing';
import { requireRecentUserVerification, STEP_UP_WINDOW_MS } from './step-up';

const rp = { origin: 'http://localhost:4100' };

function setup() {
  const { deps, clock } = createTestDeps();
  const session = () => {
    const { token } = redeemLoginCode(deps, createLoginCode(deps).code);
    return { token, key: sha256Hex(token) };
  };
  const me = session();
  const cookieCtx = (key = me.key) => ownerContext(deps, { owner: { scopes: ['access:read', 'access:write'], via: 'cookie' }, ownerKey: key, actor: 'web' });
  return { deps, clock, me, session, cookieCtx };
}

async function register(s: ReturnType<typeof setup>, auth = softAuthenticator(), name = 'Laptop') {
  const options = await registrationOptions(s.deps, rp, s.me.key);
  await verifyRegistration(s.deps, rp, s.me.key, { name, response: auth.register(options, rp.origin) }, 'web');
  return auth;
}

const reasonOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as { reason?: string }).reason;
  }
  return 'OK';
};
const rejection = (p: Promise<unknown>) => p.then(() => 'OK', (e: { reason?: string; message?: string }) => e.reason ?? e.message);

describe('passkeys (SPEC §14, S60)', () => {
  it('registers with user verification, lists, renames and removes, each audited', async () => {
    const s = setup();
    const auth = await register(s);
    expect(listPasskeys(s.deps)).toMatchObject([{ credentialId: auth.credentialId, name: 'Laptop', lastUsedAt: null }]);
    renamePasskey(s.deps, auth.credentialId, '  Work laptop ', 'web');
    expect(listPasskeys(s.deps)[0]!.name).toBe('Work laptop');
    expect(() => renamePasskey(s.deps, auth.credentialId, ' ', 'web')).toThrow(/1–64/);
    expect(() => renamePasskey(s.deps, 'nope', 'x', 'web')).toThrow(/No passkey/);
    removePasskey(s.deps, auth.credentialId, 'web');
    expect(listPasskeys(s.deps)).toEqual([]);
    expect(listAudit(s.deps).map((a) => [a.action, a.detail])).toEqual([
      ['passkey_removed', { passkeyName: 'Work laptop' }],
      ['passkey_renamed', { from: 'Laptop', to: 'Work laptop' }],
      ['passkey_registered', { passkeyName: 'Laptop' }],
    ]);
  });

  it('a registration without user verification, for another origin, or with another session’s challenge is refused', async () => {
    const s = setup();
    const other = s.session();
    const auth = softAuthenticator();
    const o1 = await registrationOptions(s.deps, rp, s.me.key);
    expect(await rejection(verifyRegistration(s.deps, rp, s.me.key, { name: 'x', response: auth.register(o1, rp.origin, { uv: false }) }, 'web'))).toBe('invalid_grant');
    const o2 = await registrationOptions(s.deps, rp, s.me.key);
    expect(await rejection(verifyRegistration(s.deps, rp, s.me.key, { name: 'x', response: auth.register(o2, 'http://evil.example') }, 'web'))).toBe('invalid_grant');
    const o3 = await registrationOptions(s.deps, rp, s.me.key);
    expect(await rejection(verifyRegistration(s.deps, rp, other.key, { name: 'x', response: auth.register(o3, rp.origin) }, 'web'))).toBe('invalid_grant');
    expect(await rejection(verifyRegistration(s.deps, rp, s.me.key, { name: 'x', response: { id: 'x'.repeat(10_000) } }, 'web'))).toBe('invalid_grant');
    expect(listPasskeys(s.deps)).toEqual([]);
  });

  it('step-up: nothing needed without a passkey; then a verification within 5 minutes; stale is refused; the admin token is exempt', async () => {
    const s = setup();
    expect(reasonOf(() => requireRecentUserVerification(s.cookieCtx()))).toBe('OK');
    const auth = await register(s);
    expect(reasonOf(() => requireRecentUserVerification(s.cookieCtx()))).toBe('OK'); // registering verified this session
    s.clock.advance(STEP_UP_WINDOW_MS + 1);
    expect(reasonOf(() => requireRecentUserVerification(s.cookieCtx()))).toBe('step_up_required');
    expect(reasonOf(() => requireRecentUserVerification(ownerContext(s.deps)))).toBe('OK');
    // Another signed-in session has never verified.
    expect(reasonOf(() => requireRecentUserVerification(s.cookieCtx(s.session().key)))).toBe('step_up_required');
    const options = await authenticationOptions(s.deps, rp, 'step_up', s.me.key);
    await stepUp(s.deps, rp, s.me.key, auth.assert(options, rp.origin));
    expect(reasonOf(() => requireRecentUserVerification(s.cookieCtx()))).toBe('OK');
    expect(listPasskeys(s.deps)[0]!.lastUsedAt).not.toBeNull();
  });

  it('approving and switching to account mode through the router need the step-up; rejecting does not', async () => {
    const s = setup();
    await register(s);
    s.clock.advance(STEP_UP_WINDOW_MS + 1);
    const T = fakeThumbprint(3);
    requestClient(s.deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    const caller = envRouter.createCaller(s.cookieCtx());
    const fail = (p: Promise<unknown>) => p.then(() => 'OK', (e: TRPCError) => `${e.code}:${(e.cause as { reason?: string } | undefined)?.reason ?? ''}:${e.message}`);
    expect(await fail(caller.connect.clients.approve({ clientProofKeyThumbprint: T }))).toMatch(/^FORBIDDEN:.*passkey/);
    expect(await fail(caller.connect.securityMode.set({ mode: 'client-approval' }))).toBe('OK');
    expect(await fail(caller.connect.securityMode.set({ mode: 'account' }))).toMatch(/^FORBIDDEN/);
    expect(await fail(envRouter.createCaller(ownerContext(s.deps)).connect.clients.approve({ clientProofKeyThumbprint: T }))).toBe('OK');
  });

  it('an assertion is single-use, bound to its purpose, session and time; wrong origin, no UV, a tampered signature, a counter going back and a removed passkey are refused', async () => {
    const s = setup();
    const auth = await register(s);
    const other = s.session();
    const opts = () => authenticationOptions(s.deps, rp, 'step_up', s.me.key);

    const o1 = await opts();
    const a1 = auth.assert(o1, rp.origin);
    await stepUp(s.deps, rp, s.me.key, a1);
    expect(await rejection(stepUp(s.deps, rp, s.me.key, a1))).toBe('invalid_grant'); // replayed

    const o2 = await opts();
    expect(await rejection(stepUp(s.deps, rp, other.key, auth.assert(o2, rp.origin)))).toBe('invalid_grant'); // another session's challenge
    const login = await authenticationOptions(s.deps, rp, 'login', null);
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(login, rp.origin)))).toBe('invalid_grant'); // a login challenge
    const o3 = await opts();
    s.clock.advance(CHALLENGE_TTL_MS + 1);
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(o3, rp.origin)))).toBe('invalid_grant'); // expired
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(await opts(), 'http://evil.example')))).toBe('invalid_grant');
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(await opts(), rp.origin, { uv: false })))).toBe('invalid_grant');
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(await opts(), rp.origin, { rpId: 'evil.example' })))).toBe('invalid_grant');
    const tampered = auth.assert(await opts(), rp.origin) as { response: { signature: string } };
    tampered.response.signature = Buffer.from('30440220' + '11'.repeat(32) + '0220' + '22'.repeat(32), 'hex').toString('base64url');
    expect(await rejection(stepUp(s.deps, rp, s.me.key, tampered))).toBe('invalid_grant');
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(await opts(), rp.origin, { counter: 1 })))).toBe('invalid_grant'); // a cloned authenticator
    await stepUp(s.deps, rp, s.me.key, auth.assert(await opts(), rp.origin, { counter: 50 }));

    removePasskey(s.deps, auth.credentialId, 'web');
    await register(s, softAuthenticator(), 'Phone');
    expect(await rejection(stepUp(s.deps, rp, s.me.key, auth.assert(await opts(), rp.origin)))).toBe('invalid_grant'); // removed
  });

  it('signs in with a passkey: a new owner session, already verified; a sign-in assertion cannot be replayed', async () => {
    const s = setup();
    const auth = await register(s);
    s.clock.advance(STEP_UP_WINDOW_MS * 2);
    const options = await authenticationOptions(s.deps, rp, 'login', null);
    const assertion = auth.assert(options, rp.origin);
    const { token } = await loginWithPasskey(s.deps, rp, assertion);
    expect(resolveOwnerSession(s.deps, token)).toMatchObject({ via: 'cookie' });
    expect(s.deps.db.select().from(ownerSessions).where(eq(ownerSessions.tokenHash, sha256Hex(token))).get()!.verifiedAt).toBe(s.clock.now());
    expect(reasonOf(() => requireRecentUserVerification(s.cookieCtx(sha256Hex(token))))).toBe('OK');
    expect(await rejection(loginWithPasskey(s.deps, rp, assertion))).toBe('invalid_grant');
  });
});

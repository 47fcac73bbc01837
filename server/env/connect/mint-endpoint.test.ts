// POST /api/connect/mint-credential as the relay calls it, and as an attacker would.
import { SignJWT } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signMintRequest, type MintRequestClaims } from '../../mint/mint-protocol';
import { startStack, type Stack } from '../../testing/stack';
import { fakeThumbprint } from '../testing';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack.close());
beforeEach(async () => {
  await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
});

let n = 0;
async function mintToken(over: Partial<Parameters<typeof signMintRequest>[1]> = {}) {
  return signMintRequest(stack.relay.deps.signingKey.privateKey, {
    relayIssuer: stack.relay.publicUrl,
    environmentId: stack.env.environmentId,
    accountId: 'owner',
    clientProofKeyThumbprint: fakeThumbprint(++n),
    now: Date.now(),
    ...over,
  });
}

async function post(body: unknown, init: RequestInit = {}) {
  const res = await fetch(`${stack.env.publicUrl}/api/connect/mint-credential`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

/** Re-signs claims with the relay key (or another), bypassing signMintRequest's own checks. */
async function craft(claims: Record<string, unknown>, opts: { typ?: string; key?: Parameters<SignJWT['sign']>[0] } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: opts.typ ?? 'gatehouse-mint-request+jwt' }).sign(opts.key ?? stack.relay.deps.signingKey.privateKey);
}

describe('mint endpoint', () => {
  it('answers a valid request with a credential and no-store, recording no client rows in account mode', async () => {
    const { token } = await mintToken();
    const res = await post({ proof: token });
    expect(res.status).toBe(200);
    expect(res.cacheControl).toBe('no-store');
    expect(res.body).toMatchObject({ status: 'authorized', credential: expect.stringMatching(/^[23456789A-HJ-NP-Z]{12}$/), proof: expect.any(String) });
    expect((await stack.owner.connect.clients.list.query()).items).toEqual([]);
  });

  it('a replayed request (same jti, same nonce) → 409 request_replayed', async () => {
    const { token } = await mintToken();
    expect((await post({ proof: token })).status).toBe(200);
    expect(await post({ proof: token })).toMatchObject({ status: 409, body: { reason: 'request_replayed' } });
  });

  it('a new jti with a used nonce → 409 request_replayed', async () => {
    const { token, claims } = await mintToken();
    expect((await post({ proof: token })).status).toBe(200);
    const again = await craft({ ...claims, jti: 'a-fresh-jti-value-123456' });
    expect(await post({ proof: again })).toMatchObject({ status: 409, body: { reason: 'request_replayed' } });
  });

  it.each([
    ['expired', async () => (await mintToken({ now: Date.now() - 10 * 60_000 })).token],
    ['issued in the future', async () => (await mintToken({ now: Date.now() + 10 * 60_000 })).token],
    ['for another environment (wrong aud)', async () => (await mintToken({ environmentId: 'env_someoneElse' })).token],
    ['with the wrong typ', async () => craft((await mintToken()).claims as unknown as Record<string, unknown>, { typ: 'JWT' })],
    ['with a DPoP typ', async () => craft((await mintToken()).claims as unknown as Record<string, unknown>, { typ: 'dpop+jwt' })],
    ['signed by another key', async () => craft((await mintToken()).claims as unknown as Record<string, unknown>, { key: generateKeyPairSync('ed25519').privateKey })],
    ['with alg none', async () => {
      const { claims } = await mintToken();
      return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'gatehouse-mint-request+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    }],
    ['living longer than 300 s', async () => {
      const { claims } = await mintToken();
      return craft({ ...(claims as MintRequestClaims), exp: claims.iat + 301 });
    }],
    ['with a scope other than environment:connect', async () => {
      const { claims } = await mintToken();
      return craft({ ...(claims as MintRequestClaims), scope: ['environment:connect', 'admin'] });
    }],
    ['with cnf.jkt ≠ clientProofKeyThumbprint', async () => {
      const { claims } = await mintToken();
      return craft({ ...(claims as MintRequestClaims), cnf: { jkt: fakeThumbprint(999_999) } });
    }],
  ])('refuses a request %s with a clean 4xx', async (_name, make) => {
    const res = await post({ proof: await make() });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body).toMatchObject({ reason: 'invalid_request' });
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts|Error:/);
  });

  it('refuses a request for an account the environment is not linked to (403)', async () => {
    const { token } = await mintToken({ accountId: 'mallory' });
    expect(await post({ proof: token })).toMatchObject({ status: 403 });
  });

  it.each([
    ['malformed JSON', '{"proof":', 400],
    ['a missing proof', {}, 400],
    ['a proof of the wrong type', { proof: 42 }, 400],
    ['an array body', '[1,2]', 400],
    ['an oversized body', { proof: 'x'.repeat(40 * 1024) }, 413],
    ['a proof longer than any mint request may be (12 KB)', { proof: 'x'.repeat(12 * 1024) }, 413],
    ['a proof just under the token cap that is not a token', { proof: 'x'.repeat(8 * 1024 - 1) }, 401],
    ['a garbage token', { proof: 'a.b.c' }, 401],
  ] as const)('answers %s with a clean %i', async (_name, body, status) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ error: expect.any(String), reason: expect.any(String), message: expect.any(String) });
  });

  it('refuses GET with 405 and Allow: POST', async () => {
    const res = await fetch(`${stack.env.publicUrl}/api/connect/mint-credential`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('fails closed on an unreadable mode before consuming any marker', async () => {
    const { token } = await mintToken();
    const raw = stack.env.deps.db.$client;
    raw.pragma('ignore_check_constraints = ON');
    raw.prepare("INSERT OR REPLACE INTO connect_settings (id, security_mode, updated_at) VALUES (1, 'bogus', 'x')").run();
    raw.pragma('ignore_check_constraints = OFF');
    const refused = await post({ proof: token });
    expect(refused).toMatchObject({ status: 500, body: { reason: 'security_mode_unreadable' } });
    expect(String(refused.body?.message)).toMatch(/--mode/);
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    // The markers were not consumed: the very same request now succeeds.
    expect((await post({ proof: token })).status).toBe(200);
  });

  it('S34 an unknown key in approval mode gets a pending answer; asking N times makes exactly one row', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const thumbprint = fakeThumbprint(500_000);
    for (let i = 0; i < 5; i++) {
      const res = await post({ proof: (await mintToken({ clientProofKeyThumbprint: thumbprint })).token });
      expect(res).toMatchObject({ status: 200, cacheControl: 'no-store', body: { status: 'pending_approval', approvalStatus: 'pending' } });
      expect(res.body).not.toHaveProperty('credential');
    }
    const rows = (await stack.owner.connect.clients.list.query()).items.filter((c) => c.clientProofKeyThumbprint === thumbprint);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.requestCount).toBe(5);
  });
});

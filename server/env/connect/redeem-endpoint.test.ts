// POST /oauth/token on the environment and DPoP-bound client sessions: every way to misuse them.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../../shared/dpop';
import { fetchWhoAmI } from '../../../shared/client/connect';
import { signMintRequest } from '../../mint/mint-protocol';
import { startStack, type Stack } from '../../testing/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack.close());

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TYPE = 'urn:gatehouse:token-type:connect-credential';

async function credentialFor(signer: DpopSigner): Promise<string> {
  const { token } = await signMintRequest(stack.relay.deps.signingKey.privateKey, {
    relayIssuer: stack.relay.publicUrl,
    environmentId: stack.env.environmentId,
    accountId: 'owner',
    clientProofKeyThumbprint: signer.thumbprint,
    now: Date.now(),
  });
  const res = await fetch(`${stack.env.publicUrl}/api/connect/mint-credential`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof: token }) });
  const body = (await res.json()) as { credential?: string };
  if (!body.credential) throw new Error(`no credential: ${JSON.stringify(body)}`);
  return body.credential;
}

const tokenUrl = () => `${stack.env.publicUrl}/oauth/token`;
const form = (credential: string) => new URLSearchParams({ grant_type: GRANT, subject_token: credential, subject_token_type: TYPE }).toString();

async function redeem(credential: string, dpop: string | string[] | null, url = tokenUrl()) {
  const body = form(credential);
  // An array value goes out as separate header lines, so a test can send DPoP twice (fetch would join them).
  const headers: Record<string, string | string[]> = { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) };
  if (dpop !== null) headers.DPoP = dpop;
  return new Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text || '{}'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const proof = (signer: DpopSigner, over: Partial<Parameters<typeof createDpopProof>[1]> = {}) => createDpopProof(signer, { htm: 'POST', htu: tokenUrl(), ...over });

describe('credential redemption', () => {
  it('trades a credential and a proof from the same key for a DPoP session, with no-store', async () => {
    const signer = await stack.newSigner();
    const res = await redeem(await credentialFor(signer), await proof(signer));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'DPoP', expires_in: 3600, scope: 'environment:use', access_token: expect.any(String) });
    const session = { environmentId: stack.env.environmentId, endpoint: stack.env.publicUrl, accessToken: String(res.body.access_token), expiresAt: 0 };
    expect((await fetchWhoAmI(session, signer)).clientProofKeyThumbprint).toBe(signer.thumbprint);
  });

  it('S23 refuses a proof from another key than the credential is bound to', async () => {
    const [a, b] = [await stack.newSigner(), await stack.newSigner()];
    expect(await redeem(await credentialFor(a), await proof(b))).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: 'invalid_grant' } });
  });

  it('a credential is single-use', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialFor(signer);
    expect((await redeem(credential, await proof(signer))).status).toBe(200);
    expect(await redeem(credential, await proof(signer))).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: 'invalid_grant' } });
  });

  it('S13 50 concurrent redemptions of one credential with one proof → exactly one session', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialFor(signer);
    const dpop = await proof(signer);
    const results = await Promise.all(Array.from({ length: 50 }, () => redeem(credential, dpop)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.every((r) => r.status === 200 || r.status === 400)).toBe(true);
  });

  it('S13/S19 a replayed proof is refused with the same status as an invalid one', async () => {
    const signer = await stack.newSigner();
    const dpop = await proof(signer);
    expect((await redeem(await credentialFor(signer), dpop)).status).toBe(200);
    const replay = await redeem(await credentialFor(signer), dpop);
    const invalid = await redeem(await credentialFor(signer), (await proof(signer)).slice(0, -4) + 'AAAA');
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    expect(invalid.status).toBe(replay.status);
    expect(replay.headers['www-authenticate']).toMatch(/^DPoP error="invalid_dpop_proof", algs="ES256 EdDSA Ed25519"/);
  });

  it('S16 a proof refused for its htu does not burn its jti', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialFor(signer);
    const jti = 'fixed-jti-for-s16-test-0001';
    expect((await redeem(credential, await proof(signer, { jti, htu: `${stack.env.publicUrl}/elsewhere` }))).status).toBe(400);
    expect((await redeem(credential, await proof(signer, { jti }))).status).toBe(200);
  });

  it.each([
    ['no DPoP header', async () => null],
    ['two DPoP headers (S1)', async (s: DpopSigner) => [await proof(s), await proof(s)]],
    ['a proof for GET (S10)', async (s: DpopSigner) => proof(s, { htm: 'GET' })],
    ['a proof for another URL (S11/S20)', async (s: DpopSigner) => proof(s, { htu: `${stack.env.publicUrl}/trpc/client.whoami` })],
    ['a proof for another host (S11)', async (s: DpopSigner) => proof(s, { htu: tokenUrl().replace('127.0.0.1', 'localhost') })],
    ['a proof 61 s old (S12)', async (s: DpopSigner) => proof(s, { now: Date.now() - 61_000 })],
    ['a proof 6 s ahead (S12)', async (s: DpopSigner) => proof(s, { now: Date.now() + 6_500 })],
  ])('refuses %s with invalid_dpop_proof', async (_name, make) => {
    const signer = await stack.newSigner();
    const res = await redeem(await credentialFor(signer), await make(signer));
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
  });

  it('S1 accepts the header name in any case (DPOP)', async () => {
    const signer = await stack.newSigner();
    const res = await fetch(tokenUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', DPOP: await proof(signer) }, body: form(await credentialFor(signer)) });
    expect(res.status).toBe(200);
  });

  it('S11 compares htu with the configured URL, never the Host header', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialFor(signer);
    const spoofed = await proof(signer, { htu: 'http://evil.example/oauth/token' });
    const res = await fetch(tokenUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: spoofed, 'x-forwarded-host': 'evil.example' }, body: form(credential) });
    expect(res.status).toBe(400);
  });

  it('refuses a wrong grant type, a wrong token type and a malformed credential without a 5xx', async () => {
    const signer = await stack.newSigner();
    for (const body of [
      new URLSearchParams({ grant_type: 'password', subject_token: 'X', subject_token_type: TYPE }),
      new URLSearchParams({ grant_type: GRANT, subject_token: 'ABCDEFGHJKLM', subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
      new URLSearchParams({ grant_type: GRANT, subject_token: 'lowercase-bad', subject_token_type: TYPE }),
      new URLSearchParams({ grant_type: GRANT, subject_token: 'A', subject_token_type: TYPE, extra: '1' }),
    ]) {
      const res = await fetch(tokenUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await proof(signer) }, body });
      expect(res.status).toBe(400);
    }
  });
});

describe('client sessions', () => {
  async function session() {
    const signer = await stack.newSigner();
    const res = await redeem(await credentialFor(signer), await proof(signer));
    return { signer, token: String(res.body.access_token) };
  }
  const whoamiUrl = () => `${stack.env.publicUrl}/trpc/client.whoami`;

  it('S21 refuses the Bearer scheme for a DPoP-bound session', async () => {
    const { token } = await session();
    const res = await fetch(whoamiUrl(), { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
  });

  it('S21 refuses a proof whose ath is for another token, and a proof from another key', async () => {
    const { signer, token } = await session();
    const other = await stack.newSigner();
    const wrongAth = await createDpopProof(signer, { htm: 'GET', htu: whoamiUrl(), accessToken: 'some-other-token' });
    expect((await fetch(whoamiUrl(), { headers: { authorization: `DPoP ${token}`, DPoP: wrongAth } })).status).toBe(401);
    const otherKey = await createDpopProof(other, { htm: 'GET', htu: whoamiUrl(), accessToken: token });
    expect((await fetch(whoamiUrl(), { headers: { authorization: `DPoP ${token}`, DPoP: otherKey } })).status).toBe(401);
  });

  it('S20 refuses a proof made for /oauth/token at a tRPC procedure, and a replayed proof', async () => {
    const { signer, token } = await session();
    const forToken = await createDpopProof(signer, { htm: 'POST', htu: tokenUrl(), accessToken: token });
    expect((await fetch(whoamiUrl(), { headers: { authorization: `DPoP ${token}`, DPoP: forToken } })).status).toBe(401);
    const good = await createDpopProof(signer, { htm: 'GET', htu: whoamiUrl(), accessToken: token });
    expect((await fetch(whoamiUrl(), { headers: { authorization: `DPoP ${token}`, DPoP: good } })).status).toBe(200);
    expect((await fetch(whoamiUrl(), { headers: { authorization: `DPoP ${token}`, DPoP: good } })).status).toBe(401);
  });

  it('S39 a connected client cannot call owner procedures', async () => {
    const { signer, token } = await session();
    const url = `${stack.env.publicUrl}/trpc/connect.clients.approve`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `DPoP ${token}`, DPoP: await createDpopProof(signer, { htm: 'POST', htu: url, accessToken: token }) },
      body: JSON.stringify({ clientProofKeyThumbprint: signer.thumbprint }),
    });
    expect(res.status).toBe(401);
  });
});

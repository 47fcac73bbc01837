import { createPublicKey } from 'node:crypto';
import { base64url, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MINT_REQUEST_TYP, MINT_RESPONSE_TYP, MintProtocolError, mintResponseBody, signMintRequest, signMintResponse,
  verifyMintResponse, type MintDecision, type MintRequestClaims, type VerifyMintResponseOptions,
} from './mint-protocol';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;
const RELAY = 'http://127.0.0.1:4200';
const ENV_ID = 'env_7Qm2';
const THUMB = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';
const OTHER_THUMB = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
const AUTHORIZED: MintDecision = { status: 'authorized', credential: 'ABCDEFGH2345', expiresAt: NOW + 120_000 + 789 };
const PENDING: MintDecision = { status: 'pending_approval', approvalStatus: 'pending', requestedAt: '2026-01-01T11:59:58.123Z' };

type Key = { privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: Record<string, unknown> };
let env: Key;
let relay: Key;
let request: MintRequestClaims;

async function edKey(): Promise<Key> {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  const { kty, crv, x } = await exportJWK(pair.publicKey);
  return { ...pair, publicJwk: { kty, crv, x } };
}

beforeAll(async () => {
  env = await edKey();
  relay = await edKey();
  ({ claims: request } = await signMintRequest(relay.privateKey, {
    relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'acct-1', clientProofKeyThumbprint: THUMB, now: NOW,
  }));
});

const verifyOpts = (): VerifyMintResponseOptions => ({
  envPublicKey: env.publicJwk, environmentId: ENV_ID, relayIssuer: RELAY, request, now: NOW,
});

async function answer(decision: MintDecision, retryAfterSeconds = 5) {
  const proof = await signMintResponse(env.privateKey, { environmentId: ENV_ID, relayIssuer: RELAY, request, decision, now: NOW });
  return mintResponseBody(decision, proof, retryAfterSeconds);
}

/** Re-signs the proof's claims with changes, over the real env key unless told otherwise. */
async function reSigned(proof: string, changes: Record<string, unknown>, header: Record<string, unknown> = {}, key = env.privateKey) {
  return new SignJWT({ ...decodeJwt(proof), ...changes })
    .setProtectedHeader({ alg: 'EdDSA', typ: MINT_RESPONSE_TYP, ...header })
    .sign(key);
}

async function refusal(body: unknown, opts = verifyOpts()): Promise<string> {
  const error = await verifyMintResponse(body, opts).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(MintProtocolError);
  expect((error as MintProtocolError).reason).toBe('endpoint_response_invalid');
  expect((error as MintProtocolError).kind).toBe('bad_gateway');
  return (error as MintProtocolError).message;
}

describe('signMintResponse / verifyMintResponse', () => {
  it('round-trips an authorized answer with exactly the SPEC claims', async () => {
    const body = await answer(AUTHORIZED);
    expect(decodeProtectedHeader(body.proof)).toEqual({ alg: 'EdDSA', typ: MINT_RESPONSE_TYP });
    expect(decodeJwt(body.proof)).toEqual({
      iss: `env:${ENV_ID}`, aud: RELAY, sub: ENV_ID, jti: expect.stringMatching(/^[\w-]{22}$/), iat: NOW_S,
      environmentId: ENV_ID, clientProofKeyThumbprint: THUMB, requestNonce: request.nonce,
      credential: 'ABCDEFGH2345', exp: Math.floor(AUTHORIZED.expiresAt / 1000),
    });
    expect(await verifyMintResponse(body, verifyOpts())).toEqual({
      status: 'authorized', environmentId: ENV_ID, clientProofKeyThumbprint: THUMB, credential: 'ABCDEFGH2345', expiresAt: AUTHORIZED.expiresAt,
    });
  });

  it('round-trips pending and rejected answers, exp = iat + 300', async () => {
    for (const approvalStatus of ['pending', 'rejected'] as const) {
      const body = await answer({ ...PENDING, approvalStatus } as MintDecision, 7);
      expect(decodeJwt(body.proof)).toMatchObject({ status: 'pending_approval', approvalStatus, requestedAt: PENDING.requestedAt, exp: NOW_S + 300 });
      expect(decodeJwt(body.proof)).not.toHaveProperty('credential');
      expect(await verifyMintResponse(body, verifyOpts())).toEqual({
        status: 'pending_approval', environmentId: ENV_ID, clientProofKeyThumbprint: THUMB, approvalStatus,
        requestedAt: PENDING.requestedAt, retryAfterSeconds: 7,
      });
    }
  });

  it('accepts the pinned env key as a JWK, a CryptoKey or a KeyObject, and puts a kid in the header when known', async () => {
    const body = await answer(AUTHORIZED);
    for (const envPublicKey of [env.publicJwk, env.publicKey, createPublicKey({ key: env.publicJwk, format: 'jwk' })]) {
      await expect(verifyMintResponse(body, { ...verifyOpts(), envPublicKey })).resolves.toMatchObject({ status: 'authorized' });
    }
    const withKid = { privateKey: env.privateKey, kid: 'env-k1' };
    const proof = await signMintResponse(withKid, { environmentId: ENV_ID, relayIssuer: RELAY, request, decision: PENDING, now: NOW });
    expect(decodeProtectedHeader(proof).kid).toBe('env-k1');
  });

  it('S31 refuses a pinned key that is private or not Ed25519, in any key form', async () => {
    const body = await answer(AUTHORIZED);
    const es = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(env.privateKey);
    const pinned = [env.privateKey, es.publicKey, privateJwk, await exportJWK(es.publicKey),
      createPublicKey({ key: await exportJWK(es.publicKey), format: 'jwk' }), { kty: 'OKP', crv: 'Ed25519', x: 'short' }];
    for (const envPublicKey of pinned) {
      expect(await refusal(body, { ...verifyOpts(), envPublicKey })).toMatch(/pinned/);
    }
  });

  it('refuses a body whose fields differ from the signed proof', async () => {
    const authorized = await answer(AUTHORIZED);
    expect(await refusal({ ...authorized, credential: 'ZZZZZZZZ2345' })).toMatch(/credential/);
    expect(await refusal({ ...authorized, expiresAt: AUTHORIZED.expiresAt + 1000 })).toMatch(/expiresAt/);
    expect(await refusal({ ...authorized, expiresAt: AUTHORIZED.expiresAt - 1000 })).toMatch(/expiresAt/);
    const pending = await answer(PENDING);
    expect(await refusal({ ...pending, approvalStatus: 'rejected' })).toMatch(/approvalStatus/);
    expect(await refusal({ ...pending, requestedAt: '2026-01-01T11:59:58.124Z' })).toMatch(/requestedAt/);
    const pendingProof = { status: 'authorized', credential: 'ABCDEFGH2345', expiresAt: AUTHORIZED.expiresAt, proof: pending.proof };
    expect(await refusal(pendingProof)).toMatch(/status/);
    expect(await refusal({ ...pending, proof: authorized.proof })).toMatch(/status/);
  });

  it('refuses a proof re-signed with any field changed', async () => {
    const authorized = await answer(AUTHORIZED);
    const pending = await answer(PENDING);
    const cases: Array<[typeof authorized, Record<string, unknown>, RegExp]> = [
      [authorized, { credential: 'ZZZZZZZZ2345' }, /credential/],
      [authorized, { exp: NOW_S + 100 }, /expiresAt/],
      [authorized, { requestNonce: 'another-request-nonce' }, /another request/],
      [authorized, { clientProofKeyThumbprint: OTHER_THUMB }, /another client key/],
      [authorized, { environmentId: 'env_other' }, /another environment/],
      [authorized, { sub: 'env_other' }, /another environment/],
      [pending, { approvalStatus: 'rejected' }, /approvalStatus/],
      [pending, { requestedAt: '2026-01-01T11:59:59.000Z' }, /requestedAt/],
      [pending, { requestNonce: 'another-request-nonce' }, /another request/],
      [pending, { clientProofKeyThumbprint: OTHER_THUMB }, /another client key/],
      [pending, { environmentId: 'env_other' }, /another environment/],
      [pending, { credential: 'ABCDEFGH2345' }, /invalid claims/],
      [pending, { status: 'authorized' }, /invalid claims/],
      [pending, { requestedAt: '2026-01-01T11:59:58Z' }, /invalid claims/],
    ];
    for (const [body, changes, message] of cases) {
      expect(await refusal({ ...body, proof: await reSigned(body.proof, changes) }), JSON.stringify(changes)).toMatch(message);
    }
  });

  it('S26 refuses another key, alg none, HS256 keyed with the public key, and embedded jwk or jku', async () => {
    const body = await answer(AUTHORIZED);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, {}, {}, relay.privateKey) })).toMatch(/signature/);
    const [, payload] = body.proof.split('.');
    const none = base64url.encode(JSON.stringify({ alg: 'none', typ: MINT_RESPONSE_TYP }));
    expect(await refusal({ ...body, proof: `${none}.${payload}.` })).toMatch(/must be signed with EdDSA/); // the header is refused before the empty signature is looked at
    const secret = base64url.decode(String(env.publicJwk.x));
    const hs = await new SignJWT(decodeJwt(body.proof)).setProtectedHeader({ alg: 'HS256', typ: MINT_RESPONSE_TYP }).sign(secret);
    expect(await refusal({ ...body, proof: hs })).toMatch(/EdDSA/);
    const attacker = await edKey();
    const selfSigned = await reSigned(body.proof, {}, { jwk: attacker.publicJwk }, attacker.privateKey);
    expect(await refusal({ ...body, proof: selfSigned })).toMatch(/jwk/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, {}, { jwk: env.publicJwk }) })).toMatch(/jwk/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, {}, { jku: 'https://attacker.example/jwks' }) })).toMatch(/jku/);
  });

  it('S27 refuses a mint request, a DPoP proof or any other typ presented as a response', async () => {
    const body = await answer(AUTHORIZED);
    const { token: requestToken } = await signMintRequest(env.privateKey, {
      relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'acct-1', clientProofKeyThumbprint: THUMB, now: NOW,
    });
    expect(await refusal({ ...body, proof: requestToken })).toMatch(/typ/);
    for (const typ of [MINT_REQUEST_TYP, 'dpop+jwt', 'JWT', undefined, MINT_RESPONSE_TYP.toUpperCase()]) {
      expect(await refusal({ ...body, proof: await reSigned(body.proof, {}, { typ }) })).toMatch(/typ/);
    }
  });

  it('S28 refuses the wrong issuer or audience, and a request for another environment', async () => {
    const body = await answer(AUTHORIZED);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, { aud: 'http://other-relay' }) })).toMatch(/aud/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, { iss: 'env:env_other' }) })).toMatch(/iss/);
    expect(await refusal(body, { ...verifyOpts(), relayIssuer: 'http://other-relay' })).toMatch(/aud/);
    expect(await refusal(body, { ...verifyOpts(), environmentId: 'env_other' })).toMatch(/another environment/);
  });

  it('S29 refuses expired proofs, lifetimes over 300 s and iat more than 60 s ahead', async () => {
    const body = await answer(PENDING);
    const at = (ms: number) => ({ ...verifyOpts(), now: ms });
    await expect(verifyMintResponse(body, at(NOW + 359_000))).resolves.toBeTruthy();
    expect(await refusal(body, at(NOW + 360_000))).toMatch(/expired/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, { exp: NOW_S + 301 }) })).toMatch(/longer/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, { iat: NOW_S + 61, exp: NOW_S + 300 }) })).toMatch(/future/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, { exp: undefined }) })).toMatch(/exp/);
  });

  it('refuses a body of the wrong shape and an oversized proof', async () => {
    const body = await answer(AUTHORIZED);
    const pending = await answer(PENDING);
    const bad: unknown[] = [
      null, 'x', [], {}, { ...body, proof: undefined }, { ...body, extra: 1 }, { ...body, status: 'approved' },
      { ...body, expiresAt: String(AUTHORIZED.expiresAt) }, { ...body, credential: '' }, { ...pending, retryAfterSeconds: -1 },
      { ...pending, requestedAt: '2026-01-01T11:59:58Z' }, { ...pending, approvalStatus: 'approved' },
    ];
    for (const value of bad) expect(await refusal(value), JSON.stringify(value)).toMatch(/wrong shape/);
    expect(await refusal({ ...body, proof: await reSigned(body.proof, { pad: 'x'.repeat(8192) }) })).toMatch(/too large/);
  });

  it('refuses to sign a decision the relay would reject', async () => {
    const base = { environmentId: ENV_ID, relayIssuer: RELAY, request, now: NOW };
    const sign = (decision: MintDecision) => signMintResponse(env.privateKey, { ...base, decision });
    await expect(sign({ ...AUTHORIZED, expiresAt: NOW - 1000 } as MintDecision)).rejects.toThrow(TypeError);
    await expect(sign({ ...PENDING, requestedAt: 'yesterday' } as MintDecision)).rejects.toThrow(TypeError);
    const elsewhere = { ...base, environmentId: 'env_other', decision: PENDING };
    await expect(signMintResponse(env.privateKey, elsewhere)).rejects.toThrow(TypeError);
  });
});

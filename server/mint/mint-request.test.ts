import { base64url, CompactEncrypt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { signRaw } from '../dpop/dpop-test-kit';
import {
  MINT_REQUEST_TYP, MINT_RESPONSE_TYP, MintProtocolError, precheckMintRequest, signMintRequest, verifyMintRequest, type MintRequestClaims,
} from './mint-protocol';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;
const RELAY = 'http://127.0.0.1:4200';
const ENV_ID = 'env_7Qm2';
const THUMB = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';

let relay: { privateKey: CryptoKey; publicJwk: Record<string, unknown>; kid: string };
let other: { privateKey: CryptoKey };
beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  const { kty, crv, x } = await exportJWK(pair.publicKey);
  relay = { privateKey: pair.privateKey, publicJwk: { kty, crv, x }, kid: 'relay-key-1' };
  other = await generateKeyPair('EdDSA');
});

const verifyOpts = () => ({ relayPublicKey: relay.publicJwk, relayIssuer: RELAY, environmentId: ENV_ID, now: NOW });
const input = { relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'acct-1', clientProofKeyThumbprint: THUMB, now: NOW };

async function validClaims(): Promise<MintRequestClaims> {
  return (await signMintRequest(relay, input)).claims;
}

/** Re-signs arbitrary claims and header over the real relay key (or another), bypassing our signer. */
async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}, key = relay.privateKey) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: MINT_REQUEST_TYP, ...header }).sign(key);
}

async function refusal(token: string, opts = verifyOpts()): Promise<string> {
  const error = await verifyMintRequest(token, opts).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(MintProtocolError);
  expect((error as MintProtocolError).reason).toBe('invalid_request');
  return (error as MintProtocolError).message;
}

describe('signMintRequest / verifyMintRequest', () => {
  it('signs exactly the SPEC claims and verifies them back', async () => {
    const { token, claims } = await signMintRequest(relay, input);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: MINT_REQUEST_TYP, kid: 'relay-key-1' });
    expect(claims).toEqual({
      iss: RELAY, aud: `env:${ENV_ID}`, sub: 'acct-1', jti: expect.stringMatching(/^[\w-]{22}$/),
      nonce: expect.stringMatching(/^[\w-]{22}$/), iat: NOW_S, exp: NOW_S + 120, environmentId: ENV_ID,
      clientProofKeyThumbprint: THUMB, cnf: { jkt: THUMB }, scope: ['environment:connect'],
    });
    expect(await verifyMintRequest(token, verifyOpts())).toEqual(claims);
    const again = await signMintRequest(relay.privateKey, input);
    expect(again.claims.nonce).not.toBe(claims.nonce);
    expect(again.claims.jti).not.toBe(claims.jti);
  });

  it('carries deviceId, client and waitSeconds only when present, client info trimmed', async () => {
    const { token, claims } = await signMintRequest(relay, {
      ...input, deviceId: 'dev-1', waitSeconds: 25, client: { label: '  Laptop\u0007 ', deviceType: 'desktop', os: '' },
    });
    expect(claims).toMatchObject({ deviceId: 'dev-1', waitSeconds: 25, client: { label: 'Laptop', deviceType: 'desktop' } });
    expect(claims.client).not.toHaveProperty('os');
    expect(await verifyMintRequest(token, verifyOpts())).toEqual(claims);
    expect((await signMintRequest(relay, { ...input, client: { label: ' ' } })).claims).not.toHaveProperty('client');
  });

  it('refuses to sign fields the verifier would reject', async () => {
    const badInputs = [
      { waitSeconds: 26 }, { waitSeconds: -1 }, { waitSeconds: 1.5 }, { clientProofKeyThumbprint: 'short' },
      { environmentId: '' }, { accountId: '' },
    ];
    for (const bad of badInputs) {
      await expect(signMintRequest(relay, { ...input, ...bad }), JSON.stringify(bad)).rejects.toThrow(MintProtocolError);
    }
  });

  it('S26 refuses another key, alg none, HS256 keyed with the public key, and embedded jwk or jku', async () => {
    const claims = await validClaims();
    expect(await refusal(await forge(claims, {}, other.privateKey))).toMatch(/signature/);
    const noneHeader = base64url.encode(JSON.stringify({ alg: 'none', typ: MINT_REQUEST_TYP }));
    const body = base64url.encode(JSON.stringify(claims));
    expect(await refusal(`${noneHeader}.${body}.`)).toMatch(/must be signed with EdDSA/); // the header is refused before the empty signature is looked at
    expect(await refusal(`${noneHeader}.${body}.${base64url.encode(new Uint8Array(64))}`)).toMatch(/EdDSA/);
    const x = base64url.decode(String(relay.publicJwk.x));
    const text = (s: string) => new TextEncoder().encode(s);
    for (const secret of [x, text(JSON.stringify(relay.publicJwk)), text(String(relay.publicJwk.x))]) {
      const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: MINT_REQUEST_TYP }).sign(secret);
      expect(await refusal(hs)).toMatch(/EdDSA/);
    }
    const attacker = await generateKeyPair('EdDSA', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    expect(await refusal(await forge(claims, { jwk: attackerJwk }, attacker.privateKey))).toMatch(/jwk/);
    expect(await refusal(await forge(claims, { jwk: relay.publicJwk }))).toMatch(/jwk/);
    expect(await refusal(await forge(claims, { jku: 'https://attacker.example/jwks' }))).toMatch(/jku/);
  });

  it('S26 refuses a pinned key that is private or not Ed25519', async () => {
    const { token } = await signMintRequest(relay, input);
    const privateJwk = await exportJWK(relay.privateKey);
    expect(await refusal(token, { ...verifyOpts(), relayPublicKey: privateJwk })).toMatch(/pinned/);
    const es = await exportJWK((await generateKeyPair('ES256')).publicKey);
    expect(await refusal(token, { ...verifyOpts(), relayPublicKey: es })).toMatch(/pinned/);
  });

  it('S27 refuses every typ but the mint request one', async () => {
    const claims = await validClaims();
    const typs = [MINT_RESPONSE_TYP, 'dpop+jwt', 'JWT', 'gatehouse-relay-access+jwt', 'GATEHOUSE-MINT-REQUEST+JWT',
      `application/${MINT_REQUEST_TYP}`, undefined];
    for (const typ of typs) {
      expect(await refusal(await forge(claims, { typ }))).toMatch(/typ/);
    }
  });

  it('S28 refuses another issuer, audience or environment', async () => {
    const claims = await validClaims();
    expect(await refusal(await forge({ ...claims, iss: 'http://evil' }))).toMatch(/iss/);
    expect(await refusal(await forge({ ...claims, aud: 'env:other' }))).toMatch(/aud/);
    expect(await refusal(await forge({ ...claims, aud: [`env:${ENV_ID}`, 'env:other'] }))).toMatch(/single audience/);
    expect(await refusal(await forge({ ...claims, environmentId: 'other' }))).toMatch(/another environment/);
    const { token } = await signMintRequest(relay, input);
    expect(await refusal(token, { ...verifyOpts(), environmentId: 'other' })).toMatch(/aud/);
  });

  it('S29 enforces exp with 60 s tolerance, exp > iat, exp − iat ≤ 300 and iat ≤ now + 60', async () => {
    const { token, claims } = await signMintRequest(relay, input);
    const at = (s: number) => ({ ...verifyOpts(), now: s * 1000 });
    await expect(verifyMintRequest(token, at(claims.exp + 59))).resolves.toBeTruthy();
    expect(await refusal(token, at(claims.exp + 60))).toMatch(/expired/);
    await expect(verifyMintRequest(await forge({ ...claims, exp: claims.iat + 300 }), verifyOpts())).resolves.toBeTruthy();
    expect(await refusal(await forge({ ...claims, exp: claims.iat + 301 }))).toMatch(/longer/);
    expect(await refusal(await forge({ ...claims, exp: claims.iat }))).toMatch(/before/);
    await expect(verifyMintRequest(await forge({ ...claims, iat: NOW_S + 60, exp: NOW_S + 180 }), verifyOpts())).resolves.toBeTruthy();
    expect(await refusal(await forge({ ...claims, iat: NOW_S + 61, exp: NOW_S + 181 }))).toMatch(/future/);
    const { exp: _exp, ...noExp } = claims;
    expect(await refusal(await forge(noExp))).toMatch(/exp/);
    expect(await refusal(await forge({ ...claims, iat: NOW_S + 0.5 }))).toMatch(/integer/);
  });

  it('requires scope exactly ["environment:connect"] and cnf.jkt equal to the thumbprint', async () => {
    const claims = await validClaims();
    const scopes = [['environment:connect', 'access:write'], 'environment:connect', [], ['environment:use'],
      ['access:write', 'environment:connect']];
    for (const scope of scopes) {
      expect(await refusal(await forge({ ...claims, scope }))).toMatch(/scope/);
    }
    const otherThumb = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    expect(await refusal(await forge({ ...claims, cnf: { jkt: otherThumb } }))).toMatch(/binds a different key/);
    expect(await refusal(await forge({ ...claims, cnf: undefined }))).toMatch(/cnf/);
    expect(await refusal(await forge({ ...claims, clientProofKeyThumbprint: 'not-a-thumbprint' }))).toMatch(/clientProofKeyThumbprint/);
  });

  it('checks every claim type and refuses unknown claims', async () => {
    const claims = await validClaims();
    const bad: Array<Record<string, unknown>> = [
      { waitSeconds: 26 }, { waitSeconds: '5' }, { waitSeconds: -1 }, { sub: 5 }, { nonce: 'short' }, { jti: '' },
      { deviceId: 7 }, { client: { label: 'x', admin: true } }, { client: { deviceType: 'fridge' } }, { extra: 1 },
    ];
    for (const overrides of bad) {
      expect(await refusal(await forge({ ...claims, ...overrides })), JSON.stringify(overrides)).toMatch(/invalid claims/);
    }
  });

  it('S32 S33 refuses duplicate claims, crit, zip, JWE and oversized tokens', async () => {
    const claims = await validClaims();
    const json = JSON.stringify(claims);
    const header = { alg: 'EdDSA', typ: MINT_REQUEST_TYP };
    const raw = (h: Record<string, unknown>, payload: string) => signRaw(h, payload, relay.privateKey, 'EdDSA');
    expect(await refusal(await raw(header, json.replace('{', '{"environmentId":"other",')))).toMatch(/duplicate/);
    expect(await refusal(await raw({ ...header, crit: ['exp'] }, json))).toMatch(/critical/);
    expect(await refusal(await raw({ ...header, zip: 'DEF' }, json))).toMatch(/compressed/);
    const jwe = await new CompactEncrypt(new TextEncoder().encode(json))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: MINT_REQUEST_TYP })
      .encrypt(new Uint8Array(32));
    expect(await refusal(jwe)).toMatch(/encrypted/);
    expect(await refusal(await forge({ ...claims, padding: 'x'.repeat(8192) }))).toMatch(/too large/);
  });

  it('P4 cheap checks first: a wrong typ or alg, a stale or future token is refused by the precheck, which needs no key', async () => {
    const claims = await validClaims();
    const opts = { environmentId: ENV_ID, now: NOW, relayPublicKey: relay.publicJwk, relayIssuer: RELAY };
    const cases: Array<[string, RegExp]> = [
      [await forge(claims, { typ: 'JWT' }), /must have typ/],
      [await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: MINT_REQUEST_TYP }).sign(new Uint8Array(32)), /EdDSA/],
      [await forge({ ...claims, iat: NOW_S - 3600, exp: NOW_S - 3480 }), /has expired/],
      [await forge({ ...claims, iat: NOW_S + 3600, exp: NOW_S + 3720 }), /dated in the future/],
    ];
    for (const [token, why] of cases) {
      expect(() => precheckMintRequest(token, { environmentId: ENV_ID, now: NOW })).toThrow(why);
      expect(await refusal(token, opts)).toMatch(why);
    }
    expect((await verifyMintRequest(await forge(claims), opts)).jti).toBe(claims.jti);
  });
});

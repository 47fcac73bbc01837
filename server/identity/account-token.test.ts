import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { manualClock } from '../common/clock';
import { DomainError } from '../common/errors';
import { createOidcAccountTokenVerifier, JWKS_REFETCH_COOLDOWN_MS, MAX_ACCOUNT_TOKEN_LENGTH } from './account-token';
import { closedLoopbackPort, listenOnLoopback, type TestServer } from './testing';

const AUDIENCE = 'gatehouse-relay';
const start = Date.UTC(2026, 0, 1);
const nowSeconds = Math.floor(start / 1000);

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** A small OpenID issuer whose keys and discovery answers the test controls and whose traffic it counts. */
interface FixtureIssuer {
  issuer: string;
  requests: string[];
  discoveryIssuer: string | undefined;
  discoveryStatus: number;
  jwksStatus: number;
  publishedKeys: JWK[];
  /** `id_token_signing_alg_values_supported`, when the fixture announces it. */
  announcedAlgs: string[] | undefined;
}

let server: TestServer;
let rsa: KeyPair;
let fixture: FixtureIssuer;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  fixture = { issuer: '', requests: [], discoveryIssuer: undefined, discoveryStatus: 200, jwksStatus: 200, publishedKeys: [], announcedAlgs: undefined };
  server = await listenOnLoopback((req: IncomingMessage, res: ServerResponse) => {
    fixture.requests.push(req.url ?? '');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      if (fixture.discoveryStatus !== 200) return send(fixture.discoveryStatus, { error: 'down' });
      return send(200, { issuer: fixture.discoveryIssuer ?? fixture.issuer, jwks_uri: `${fixture.issuer}/jwks`, ...(fixture.announcedAlgs && { id_token_signing_alg_values_supported: fixture.announcedAlgs }) });
    }
    if (req.url === '/jwks') {
      if (fixture.jwksStatus !== 200) return send(fixture.jwksStatus, { error: 'down' });
      return send(200, { keys: fixture.publishedKeys });
    }
    send(404, { error: 'not_found' });
  });
  fixture.issuer = server.url;
});

afterAll(() => server.close());

afterEach(() => {
  vi.useRealTimers();
  fixture.requests = [];
  fixture.discoveryIssuer = undefined;
  fixture.discoveryStatus = 200;
  fixture.jwksStatus = 200;
  fixture.announcedAlgs = undefined;
});

async function publish(...keys: Array<{ key: CryptoKey; kid: string; alg: string }>) {
  fixture.publishedKeys = await Promise.all(keys.map(async ({ key, kid, alg }) => ({ ...(await exportJWK(key)), kid, alg, use: 'sig' })));
}

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { iss: fixture.issuer, aud: AUDIENCE, sub: 'alice', iat: nowSeconds, exp: nowSeconds + 600, ...overrides };
}

async function sign(payload: JWTPayload, key: CryptoKey | Uint8Array = rsa.privateKey, header: Record<string, unknown> = {}) {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT', ...header } as JWTHeaderParameters).sign(key);
}

function verifier(clock = manualClock(start), fetchImpl?: typeof fetch) {
  return createOidcAccountTokenVerifier({ issuer: fixture.issuer, audience: AUDIENCE, clock, ...(fetchImpl ? { fetchImpl } : {}) });
}

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

async function expectUnauthorized(promise: Promise<unknown>, message: RegExp) {
  const error = await refusal(promise);
  expect({ kind: error.kind, reason: error.reason }).toEqual({ kind: 'unauthorized', reason: 'invalid_token' });
  expect(error.message).toMatch(message);
  expect(error.message).not.toMatch(/eyJ|at .*\(|\n/); // never the token, never a stack
  return error;
}

describe('createOidcAccountTokenVerifier', () => {
  beforeAll(() => publish({ key: rsa.publicKey, kid: 'k1', alg: 'RS256' }));

  it('accepts a token from the issuer: discovery once, JWKS once, accountId = sub', async () => {
    const v = verifier();
    const first = await v.verify(await sign(claims()));
    const second = await v.verify(await sign(claims({ sub: 'bob' })));
    expect(first.accountId).toBe('alice');
    expect(first.claims).toMatchObject({ iss: fixture.issuer, aud: AUDIENCE });
    expect(second.accountId).toBe('bob');
    expect(fixture.requests).toEqual(['/.well-known/openid-configuration', '/jwks']);
  });

  it('refuses a token for another audience', async () => {
    await expectUnauthorized(verifier().verify(await sign(claims({ aud: 'someone-else' }))), /audience/);
  });

  it('refuses a token naming another issuer', async () => {
    await expectUnauthorized(verifier().verify(await sign(claims({ iss: 'https://evil.example' }))), /issuer/);
  });

  it('is unavailable when the discovery document names another issuer, and uses none of its keys', async () => {
    fixture.discoveryIssuer = 'https://evil.example';
    const error = await refusal(verifier().verify(await sign(claims())));
    expect({ kind: error.kind, reason: error.reason }).toEqual({ kind: 'unavailable', reason: 'invalid_token' });
    expect(error.message).toMatch(/^Account issuer could not be reached/);
    expect(fixture.requests).not.toContain('/jwks');
  });

  it('refuses an expired token once the 60 s tolerance is spent, measured on the injected clock', async () => {
    const clock = manualClock(start);
    const v = verifier(clock);
    const token = await sign(claims());
    clock.set((nowSeconds + 600 + 59) * 1000);
    await expect(v.verify(token)).resolves.toMatchObject({ accountId: 'alice' });
    clock.set((nowSeconds + 600 + 61) * 1000);
    await expectUnauthorized(v.verify(token), /expired/);
  });

  it('refuses a token whose iat is far in the future, but tolerates 60 s of skew', async () => {
    const v = verifier();
    await expect(v.verify(await sign(claims({ iat: nowSeconds + 60 })))).resolves.toBeTruthy();
    await expectUnauthorized(v.verify(await sign(claims({ iat: nowSeconds + 3600, exp: nowSeconds + 7200 }))), /iat/);
  });

  it('refuses alg "none" without touching the network', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify(claims()));
    const v = verifier();
    await expectUnauthorized(v.verify(`${header}.${payload}.`), /compact signed JWT/);
    await expectUnauthorized(v.verify(`${header}.${payload}.${base64url.encode('sig')}`), /algorithm/);
    expect(fixture.requests).toEqual([]);
  });

  it('refuses HS256 signed with the public key as the HMAC secret', async () => {
    const v = verifier();
    for (const secret of [await exportSPKI(rsa.publicKey), JSON.stringify(await exportJWK(rsa.publicKey))]) {
      const token = await sign(claims(), new TextEncoder().encode(secret), { alg: 'HS256' });
      await expectUnauthorized(v.verify(token), /algorithm/);
    }
  });

  it('refuses a token signed by another key that claims the same kid', async () => {
    const other = await generateKeyPair('RS256');
    await expectUnauthorized(verifier().verify(await sign(claims(), other.privateKey)), /signature/);
  });

  it('refuses a tampered payload, header or signature, a not-yet-valid token, and (S32) duplicate claims even when validly signed', async () => {
    const v = verifier();
    const [h, p, s] = (await sign(claims())).split('.') as [string, string, string];
    const forged = base64url.encode(JSON.stringify(claims({ sub: 'mallory' })));
    await expectUnauthorized(v.verify(`${h}.${forged}.${s}`), /signature/);
    const header = base64url.encode(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'jwt' }));
    await expectUnauthorized(v.verify(`${header}.${p}.${s}`), /signature/);
    // The signature bytes themselves, one bit off; and the same signature with a trailing byte.
    const sig = Buffer.from(s, 'base64url');
    sig[7]! ^= 0x10;
    await expectUnauthorized(v.verify(`${h}.${p}.${sig.toString('base64url')}`), /signature/);
    await expectUnauthorized(v.verify(`${h}.${p}.${Buffer.concat([Buffer.from(s, 'base64url'), Buffer.of(0)]).toString('base64url')}`), /signature/);
    await expectUnauthorized(v.verify(await sign(claims({ nbf: nowSeconds + 3600 }))), /not valid yet/);
    // S32: a validly signed token naming "sub" twice (JSON.parse would keep the last) is refused unread.
    const twice = `${h}.${base64url.encode(`${JSON.stringify(claims()).slice(0, -1)},"sub":"mallory"}`)}`;
    const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', rsa.privateKey, new TextEncoder().encode(twice)));
    await expectUnauthorized(v.verify(`${twice}.${base64url.encode(signature)}`), /malformed/);
  });

  it('refuses tokens without sub, exp or iat, and an empty or over-long sub', async () => {
    const v = verifier();
    for (const missing of ['sub', 'exp', 'iat'] as const) {
      const payload = claims();
      delete payload[missing];
      await expectUnauthorized(v.verify(await sign(payload)), new RegExp(`"${missing}"`));
    }
    await expectUnauthorized(v.verify(await sign(claims({ sub: '' }))), /"sub"/);
    await expectUnauthorized(v.verify(await sign(claims({ sub: 'x'.repeat(256) }))), /"sub"/);
    await expect(v.verify(await sign(claims({ sub: 'x'.repeat(255) })))).resolves.toBeTruthy();
  });

  it('refuses an oversized token before parsing or fetching anything', async () => {
    const token = await sign(claims({ padding: 'x'.repeat(MAX_ACCOUNT_TOKEN_LENGTH) }));
    await expectUnauthorized(verifier().verify(token), /too large/);
    expect(fixture.requests).toEqual([]);
  });

  it('refuses tokens typed as something other than an ID token', async () => {
    await expectUnauthorized(verifier().verify(await sign(claims(), rsa.privateKey, { typ: 'dpop+jwt' })), /typ/);
    await expect(verifier().verify(await sign(claims(), rsa.privateKey, { typ: 'application/JWT' }))).resolves.toBeTruthy();
  });

  it('refuses several audiences without azp, and an azp naming another party', async () => {
    const v = verifier();
    await expectUnauthorized(v.verify(await sign(claims({ aud: [AUDIENCE, 'other'] }))), /azp/);
    await expectUnauthorized(v.verify(await sign(claims({ azp: 'other' }))), /azp/);
    await expect(v.verify(await sign(claims({ aud: [AUDIENCE, 'other'], azp: AUDIENCE })))).resolves.toBeTruthy();
  });

  it('is unavailable when the issuer cannot be reached (closed port)', async () => {
    const port = await closedLoopbackPort();
    const v = createOidcAccountTokenVerifier({ issuer: `http://127.0.0.1:${port}`, audience: AUDIENCE, clock: manualClock(start) });
    const error = await refusal(v.verify(await sign(claims({ iss: `http://127.0.0.1:${port}` }))));
    expect({ kind: error.kind, reason: error.reason }).toEqual({ kind: 'unavailable', reason: 'invalid_token' });
    expect(error.message).toMatch(/^Account issuer could not be reached/);
  });

  it('is unavailable when discovery or the key set answer an error status', async () => {
    fixture.discoveryStatus = 500;
    expect((await refusal(verifier().verify(await sign(claims())))).kind).toBe('unavailable');
    fixture.discoveryStatus = 200;
    fixture.jwksStatus = 503;
    expect((await refusal(verifier().verify(await sign(claims())))).kind).toBe('unavailable');
  });

  it('retries a failed discovery on a later call, then caches it', async () => {
    let calls = 0;
    const flaky: typeof fetch = (input, init) => (++calls === 1 ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init));
    const v = verifier(manualClock(start), flaky);
    const token = await sign(claims());
    expect((await refusal(v.verify(token))).kind).toBe('unavailable');
    await expect(v.verify(token)).resolves.toMatchObject({ accountId: 'alice' });
    await expect(v.verify(token)).resolves.toMatchObject({ accountId: 'alice' });
    expect(fixture.requests).toEqual(['/.well-known/openid-configuration', '/jwks']);
  });

  it('accepts a rotated key (new kid) seconds later, yet refetches at most once per cooldown for unknown kids', async () => {
    vi.useFakeTimers({ toFake: ['Date'] }); // jose's JWKS cooldown reads Date.now()
    const v = verifier();
    await v.verify(await sign(claims()));
    const rotated = await generateKeyPair('ES256');
    const token = await sign(claims(), rotated.privateKey, { alg: 'ES256', kid: 'k2' });
    try {
      // The provider rotates right after our last fetch: the new kid works once the short cooldown is over.
      await publish({ key: rsa.publicKey, kid: 'k1', alg: 'RS256' }, { key: rotated.publicKey, kid: 'k2', alg: 'ES256' });
      await expectUnauthorized(v.verify(token), /No key/);
      for (const kid of ['bogus-1', 'bogus-2', 'bogus-3']) await expectUnauthorized(v.verify(await sign(claims(), rotated.privateKey, { alg: 'ES256', kid })), /No key/);
      expect(fixture.requests.filter((r) => r === '/jwks')).toHaveLength(1);
      vi.setSystemTime(Date.now() + JWKS_REFETCH_COOLDOWN_MS + 1);
      await expect(v.verify(token)).resolves.toMatchObject({ accountId: 'alice' });
      expect(fixture.requests.filter((r) => r === '/jwks')).toHaveLength(2);
      expect(JWKS_REFETCH_COOLDOWN_MS).toBeLessThanOrEqual(5_000);
    } finally {
      await publish({ key: rsa.publicKey, kid: 'k1', alg: 'RS256' });
    }
  });

  it('accepts the safe algorithms a provider announces, Ed25519 under both names, and refuses one it does not announce', async () => {
    const ed = await generateKeyPair('Ed25519');
    const es384 = await generateKeyPair('ES384');
    const rs512 = await generateKeyPair('RS512');
    const ps256 = await generateKeyPair('PS256');
    try {
      await publish(
        { key: rsa.publicKey, kid: 'k1', alg: 'RS256' },
        { key: ed.publicKey, kid: 'ed', alg: 'Ed25519' },
        { key: ed.publicKey, kid: 'ed-legacy', alg: 'EdDSA' }, // oidc-provider 8 labels Ed25519 keys EdDSA
        { key: es384.publicKey, kid: 'es384', alg: 'ES384' },
        { key: rs512.publicKey, kid: 'rs512', alg: 'RS512' },
        { key: ps256.publicKey, kid: 'ps256', alg: 'PS256' },
      );
      fixture.announcedAlgs = ['EdDSA', 'ES384', 'RS512', 'HS256', 'none'];
      const v = verifier();
      await expect(v.verify(await sign(claims(), ed.privateKey, { alg: 'Ed25519', kid: 'ed' }))).resolves.toMatchObject({ accountId: 'alice' });
      await expect(v.verify(await sign(claims(), ed.privateKey, { alg: 'EdDSA', kid: 'ed-legacy' }))).resolves.toMatchObject({ accountId: 'alice' });
      await expect(v.verify(await sign(claims(), es384.privateKey, { alg: 'ES384', kid: 'es384' }))).resolves.toMatchObject({ accountId: 'alice' });
      await expect(v.verify(await sign(claims(), rs512.privateKey, { alg: 'RS512', kid: 'rs512' }))).resolves.toMatchObject({ accountId: 'alice' });
      // Safe, but not what this provider says it signs with.
      await expectUnauthorized(v.verify(await sign(claims(), ps256.privateKey, { alg: 'PS256', kid: 'ps256' })), /algorithm/);
      await expectUnauthorized(v.verify(await sign(claims())), /algorithm/);
      // HS256 stays refused even when announced (and signed with the public key as secret).
      const secret = new TextEncoder().encode(JSON.stringify(fixture.publishedKeys[0]));
      await expectUnauthorized(v.verify(await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret)), /algorithm/);
    } finally {
      await publish({ key: rsa.publicKey, kid: 'k1', alg: 'RS256' });
    }
  });
});

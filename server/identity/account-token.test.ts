import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { manualClock } from '../common/clock';
import { DomainError } from '../common/errors';
import { createOidcAccountTokenVerifier, MAX_ACCOUNT_TOKEN_LENGTH } from './account-token';
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
}

let server: TestServer;
let rsa: KeyPair;
let fixture: FixtureIssuer;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  fixture = { issuer: '', requests: [], discoveryIssuer: undefined, discoveryStatus: 200, jwksStatus: 200, publishedKeys: [] };
  server = await listenOnLoopback((req: IncomingMessage, res: ServerResponse) => {
    fixture.requests.push(req.url ?? '');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      if (fixture.discoveryStatus !== 200) return send(fixture.discoveryStatus, { error: 'down' });
      return send(200, { issuer: fixture.discoveryIssuer ?? fixture.issuer, jwks_uri: `${fixture.issuer}/jwks` });
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

  it('refetches the key set for an unknown kid only after the cooldown (key rotation without kid spam)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] }); // jose's JWKS cooldown reads Date.now()
    const v = verifier();
    await v.verify(await sign(claims()));
    const rotated = await generateKeyPair('ES256');
    await publish({ key: rsa.publicKey, kid: 'k1', alg: 'RS256' }, { key: rotated.publicKey, kid: 'k2', alg: 'ES256' });
    const token = await sign(claims(), rotated.privateKey, { alg: 'ES256', kid: 'k2' });
    try {
      await expectUnauthorized(v.verify(token), /No key/);
      expect(fixture.requests.filter((r) => r === '/jwks')).toHaveLength(1);
      vi.setSystemTime(Date.now() + 31_000);
      await expect(v.verify(token)).resolves.toMatchObject({ accountId: 'alice' });
      expect(fixture.requests.filter((r) => r === '/jwks')).toHaveLength(2);
    } finally {
      await publish({ key: rsa.publicKey, kid: 'k1', alg: 'RS256' });
    }
  });
});

import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { manualClock } from '../common/clock';
import { DomainError } from '../common/errors';
import { createOidcAccountTokenVerifier } from './account-token';
import { createDevIssuer, isLoopbackAddress, MAX_TOKEN_REQUEST_BYTES, type DevIssuer, type DevIssuerOptions } from './dev-issuer';
import { listenOnLoopback, type TestServer } from './testing';
import { browserDriver } from './browser-driver';
import { createHash, randomBytes } from 'node:crypto';

const AUDIENCE = 'gatehouse-relay';
const WEB_ORIGIN = 'http://127.0.0.1:4100';
const MOUNT = '/dev-issuer';

interface Mounted {
  server: TestServer;
  issuer: DevIssuer;
  base: string;
}

/** Mounts a dev issuer under /dev-issuer on a real loopback server, the way the relay does. */
async function mountDevIssuer(options: Partial<DevIssuerOptions> = {}, peerAddress?: string): Promise<Mounted> {
  let issuer: DevIssuer | undefined;
  const server = await listenOnLoopback((req: IncomingMessage, res: ServerResponse) => {
    // Stands in for a remote peer: the TCP connection is real, only the reported address is rewritten.
    if (peerAddress) Object.defineProperty(req.socket, 'remoteAddress', { value: peerAddress, configurable: true });
    const url = req.url ?? '/';
    if (!issuer || !url.startsWith(`${MOUNT}/`)) {
      res.writeHead(404).end();
      return;
    }
    void issuer.handle(req, res, url.slice(MOUNT.length));
  });
  const base = `${server.url}${MOUNT}`;
  issuer = await createDevIssuer({ issuerUrl: base, audience: AUDIENCE, devMode: true, allowedOrigins: [WEB_ORIGIN], ...options });
  return { server, issuer, base };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** A raw request, for headers fetch will not let us choose (Host) or bodies without a length. */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; chunks?: string[] } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end();
  });
}

describe('dev issuer over HTTP', () => {
  let mounted: Mounted;
  beforeAll(async () => {
    mounted = await mountDevIssuer();
  });
  afterAll(() => mounted.server.close());

  it('publishes a discovery document for its mount point', async () => {
    const res = await fetch(`${mounted.base}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({
      issuer: mounted.base,
      jwks_uri: `${mounted.base}/jwks`,
      // oidc-provider's own endpoints; `/token` stays the scripted shortcut.
      token_endpoint: `${mounted.base}/oauth/token`,
      authorization_endpoint: `${mounted.base}/auth`,
      device_authorization_endpoint: `${mounted.base}/device/auth`,
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: ['EdDSA'],
      response_types_supported: expect.any(Array),
      subject_types_supported: ['public'],
    });
  });

  it('publishes only the public half of its key, with a kid', async () => {
    const jwks = (await (await fetch(`${mounted.base}/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.any(String) });
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  });

  it('issues an ID token (JSON or form) that the OIDC verifier accepts through discovery', async () => {
    const res = await postJson(`${mounted.base}/token`, { username: 'alice' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { id_token: string; token_type: string; expires_in: number };
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 600 });
    const jwks = (await (await fetch(`${mounted.base}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(decodeProtectedHeader(body.id_token)).toEqual({ alg: 'EdDSA', kid: jwks.keys[0]!.kid, typ: 'JWT' });

    const verifier = createOidcAccountTokenVerifier({ issuer: mounted.base, audience: AUDIENCE });
    const { accountId, claims } = await verifier.verify(body.id_token);
    expect(accountId).toBe('alice');
    expect(claims).toMatchObject({ iss: mounted.base, aud: AUDIENCE, sub: 'alice', name: 'alice' });
    expect(claims.exp! - claims.iat!).toBe(600);

    const form = await fetch(`${mounted.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=bob.smith_2-x',
    });
    expect(form.status).toBe(200);
    const { id_token } = (await form.json()) as { id_token: string };
    expect((await verifier.verify(id_token)).accountId).toBe('bob.smith_2-x');
  });

  it('refuses malformed usernames and bodies with a 400 JSON error that does not echo them', async () => {
    const bad: unknown[] = ['', 'a b', 'x'.repeat(65), 'ålice', 'alice\n', 'al/ice', 42, null, ['alice'], undefined];
    for (const username of bad) {
      const res = await postJson(`${mounted.base}/token`, { username });
      expect(res.status, JSON.stringify(username)).toBe(400);
      const body = (await res.json()) as Record<string, string>;
      expect(body).toEqual({ error: 'invalid_request', reason: 'invalid_request', message: expect.stringMatching(/username/) });
    }
    for (const [type, payload] of [
      ['application/json', '{"username":'],
      ['application/json', '["alice"]'],
      ['text/plain', 'alice'],
      ['application/x-www-form-urlencoded', 'username=alice&username=bob'],
    ] as const) {
      const res = await fetch(`${mounted.base}/token`, { method: 'POST', headers: { 'content-type': type }, body: payload });
      expect(res.status, payload).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request', reason: 'invalid_request' });
    }
    await expect(mounted.issuer.issueIdToken('not valid!')).rejects.toMatchObject({ kind: 'bad_request', reason: 'invalid_request' });
    expect(await mounted.issuer.issueIdToken('x'.repeat(64))).toMatch(/^eyJ/);
  });

  it('refuses a body over the cap with 413, declared or streamed', async () => {
    const declared = await postJson(`${mounted.base}/token`, { username: 'alice', pad: 'x'.repeat(MAX_TOKEN_REQUEST_BYTES) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ error: 'invalid_request', reason: 'invalid_request' });

    const chunk = `{"username":"alice","pad":"${'x'.repeat(1024)}`;
    const streamed = await rawRequest(`${mounted.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [chunk, 'x'.repeat(1024), 'x'.repeat(1024), 'x'.repeat(1024), 'x'.repeat(1024), '"}'],
    });
    expect(streamed.status).toBe(413);
  });

  it('answers unknown paths with a 404 JSON error and wrong methods with 405', async () => {
    for (const path of ['/', '/nope', '/token/', '/jwks/../token', '/.well-known/jwks.json']) {
      const res = await fetch(`${mounted.base}${path}`);
      expect([404, 405], path).toContain(res.status);
      if (res.status === 404) expect(await res.json()).toMatchObject({ error: expect.any(String) });
      else await res.body?.cancel();
    }
    const getToken = await fetch(`${mounted.base}/token`);
    expect(getToken.status).toBe(405);
    expect(getToken.headers.get('allow')).toBe('POST');
    await getToken.body?.cancel();
    const postJwks = await postJson(`${mounted.base}/jwks`, {});
    expect([404, 405]).toContain(postJwks.status); // the provider's own answer
    await postJwks.body?.cancel();
  });

  it('the token shortcut answers no cross-origin page, not even a listed one (SPEC §15: tests and scripts, never clients)', async () => {
    for (const origin of [WEB_ORIGIN, 'http://evil.example']) {
      const post = await postJson(`${mounted.base}/token`, { username: 'alice' }, { origin });
      expect(post.status, origin).toBe(403);
      expect(post.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(await post.text(), origin).not.toMatch(/eyJ/);
      const preflight = await fetch(`${mounted.base}/token`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      expect(preflight.status, origin).toBe(403);
      expect(preflight.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(preflight.headers.get('access-control-allow-methods'), origin).toBeNull();
      await preflight.body?.cancel();
      // A simple (form) POST needs no preflight, so the server itself must refuse it.
      const simple = await fetch(`${mounted.base}/token`, { method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=alice' });
      expect(simple.status, origin).toBe(403);
      expect(await simple.text(), origin).not.toMatch(/eyJ/);
    }
  });

  it('the provider’s own endpoints answer CORS for listed origins only, never with *', async () => {
    // What a browser page signs in through (code exchange, refresh): its discovery and JWKS are public.
    const tokenRequest = (origin: string) =>
      fetch(`${mounted.base}/oauth/token`, { method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=refresh_token&refresh_token=nope&client_id=${AUDIENCE}` });
    const providerToken = await tokenRequest('http://evil.example');
    expect(providerToken.headers.get('access-control-allow-origin')).toBeNull();
    expect(await providerToken.json()).toMatchObject({ error: 'invalid_request' });
    const listedToken = await tokenRequest(WEB_ORIGIN);
    expect(listedToken.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);
    expect(await listedToken.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('answers its own origin (same-origin page) without CORS headers', async () => {
    const res = await postJson(`${mounted.base}/token`, { username: 'alice' }, { origin: new URL(mounted.base).origin });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    await res.body?.cancel();
  });

  it('refuses a request whose Host is not the issuer or a loopback name (DNS rebinding)', async () => {
    const url = `${mounted.base}/token`;
    const post = (host: string) =>
      rawRequest(url, { method: 'POST', headers: { host, 'content-type': 'application/json' }, chunks: ['{"username":"alice"}'] });
    expect((await post('evil.example:4200')).status).toBe(403);
    expect((await post('evil.example@127.0.0.1')).status).toBe(403);
    expect((await post('localhost:4200')).status).toBe(200);
    expect((await post('[::1]:4200')).status).toBe(200);
  });
});

describe('dev issuer sign-in (oidc-provider)', () => {
  let mounted: Mounted;
  beforeAll(async () => {
    mounted = await mountDevIssuer();
  });
  afterAll(() => mounted.server.close());

  const authorizeUrl = (verifier: string) => {
    const url = new URL(`${mounted.base}/auth`);
    url.search = new URLSearchParams({
      client_id: AUDIENCE,
      response_type: 'code',
      scope: 'openid profile',
      redirect_uri: 'http://127.0.0.1:5999/callback',
      state: 'st',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return url;
  };

  it('signs any username in through its own login page (no password, no consent) and issues a code for PKCE', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const page = await browserDriver().run(authorizeUrl(verifier), { username: 'dora' }, (url) => url.port === '5999');
    expect(page.url.searchParams.get('state')).toBe('st');
    const token = await fetch(`${mounted.base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: AUDIENCE, code: page.url.searchParams.get('code')!, redirect_uri: 'http://127.0.0.1:5999/callback', code_verifier: verifier }),
    });
    const body = (await token.json()) as { id_token: string; refresh_token?: string };
    expect(token.status).toBe(200);
    expect(body.refresh_token).toEqual(expect.any(String));
    const verified = await createOidcAccountTokenVerifier({ issuer: mounted.base, audience: AUDIENCE }).verify(body.id_token);
    expect(verified.claims).toMatchObject({ sub: 'dora', name: 'dora', aud: AUDIENCE, iss: mounted.base });
  });

  it('requires PKCE, and refers a redirect URI that is not loopback and not registered', async () => {
    const url = authorizeUrl('x'.repeat(43));
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
    const noPkce = await fetch(url, { redirect: 'manual' });
    expect(new URL(noPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    const elsewhere = authorizeUrl('x'.repeat(43));
    elsewhere.searchParams.set('redirect_uri', 'https://evil.example/callback');
    const refused = await fetch(elsewhere, { redirect: 'manual' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).not.toContain('evil.example/callback?code');
  });

  it('its login page is plain, escaped HTML under a script-free CSP, and re-asks for a bad username without echoing it', async () => {
    const first = await fetch(authorizeUrl(randomBytes(32).toString('base64url')), { redirect: 'manual' });
    const cookie = first.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const login = await fetch(new URL(first.headers.get('location')!, mounted.base), { headers: { cookie } });
    expect(login.status).toBe(200);
    expect(login.headers.get('content-security-policy')).toBe("default-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    const html = await login.text();
    expect(html).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=/i);
    const action = /action="([^"]+)"/.exec(html)![1]!;
    const bad = await fetch(new URL(action, mounted.base), { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=%3Cscript%3Ealert(1)%3C%2Fscript%3E' });
    expect(bad.status).toBe(400);
    const again = await bad.text();
    expect(again).toContain('The username must be');
    expect(again).not.toContain('<script>');
  });

  it('S62 refuses proxied requests on every path, the provider\'s too', async () => {
    for (const [name, value] of [['forwarded', 'for=203.0.113.7'], ['x-forwarded-for', '203.0.113.7'], ['x-forwarded-host', 'evil.example'], ['via', '1.1 proxy']] as const) {
      for (const path of ['/token', '/auth', '/oauth/token', '/device', '/.well-known/openid-configuration', '/jwks']) {
        const res = await fetch(`${mounted.base}${path}`, { method: path === '/token' ? 'POST' : 'GET', headers: { [name]: value, 'content-type': 'application/json' }, ...(path === '/token' && { body: '{"username":"alice"}' }) });
        expect(res.status, `${name} ${path}`).toBe(403);
        expect(await res.json()).toMatchObject({ error: 'forbidden', reason: 'forbidden', message: expect.stringMatching(/proxied/) });
      }
    }
  });
});

describe('isLoopbackAddress', () => {
  it('accepts 127.0.0.0/8, ::1 and IPv4-mapped loopback', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
  });

  it('refuses every other address and anything that is not an address', () => {
    for (const address of [
      undefined,
      '',
      '10.0.0.1',
      '192.168.1.10',
      '128.0.0.1',
      '0.0.0.0',
      '::',
      '::2',
      'fe80::1',
      '::ffff:10.0.0.1',
      '127.0.0.1.evil.example',
      '127.256.0.1',
      'localhost',
      ' 127.0.0.1',
    ]) {
      expect(isLoopbackAddress(address), String(address)).toBe(false);
    }
  });

  it('refuses a non-loopback peer with 403 over a real connection', async () => {
    const remote = await mountDevIssuer({}, '203.0.113.7');
    try {
      for (const [path, init] of [
        ['/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"alice"}' }],
        ['/jwks', {}],
        ['/.well-known/openid-configuration', {}],
      ] as const) {
        const res = await fetch(`${remote.base}${path}`, init);
        expect(res.status, path).toBe(403);
        expect(await res.json()).toMatchObject({ error: 'forbidden', reason: 'forbidden' });
      }
    } finally {
      await remote.server.close();
    }
  });
});

describe('dev issuer outside dev mode', () => {
  it('answers 404 to everything and issues nothing', async () => {
    const off = await mountDevIssuer({ devMode: false });
    try {
      const token = await postJson(`${off.base}/token`, { username: 'alice' });
      expect(token.status).toBe(404);
      expect(await token.text()).not.toMatch(/eyJ/);
      for (const path of ['/.well-known/openid-configuration', '/jwks']) expect((await fetch(`${off.base}${path}`)).status).toBe(404);
      const error = await off.issuer.issueIdToken('alice').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({ kind: 'forbidden' });
    } finally {
      await off.server.close();
    }
  });
});

describe('dev issuer tokens and keys', () => {
  it('sets exp = iat + 600 from the injected clock, and the verifier agrees', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1));
    const mounted = await mountDevIssuer({ clock });
    try {
      const token = await mounted.issuer.issueIdToken('alice');
      const verifier = createOidcAccountTokenVerifier({ issuer: mounted.base, audience: AUDIENCE, clock });
      const { claims } = await verifier.verify(token);
      expect(claims.iat).toBe(Date.UTC(2026, 0, 1) / 1000);
      expect(claims.exp).toBe(claims.iat! + 600);
      clock.advance(661_000);
      await expect(verifier.verify(token)).rejects.toMatchObject({ kind: 'unauthorized', reason: 'invalid_token' });
      const otherAudience = createOidcAccountTokenVerifier({ issuer: mounted.base, audience: 'another-relay', clock });
      await expect(otherAudience.verify(await mounted.issuer.issueIdToken('alice'))).rejects.toMatchObject({ kind: 'unauthorized' });
    } finally {
      await mounted.server.close();
    }
  });

  it('persists its key in a 0600 file inside a 0700 directory and reuses it after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-dev-issuer-'));
    const keyFile = join(dir, 'relay', 'dev-issuer-key.json');
    try {
      const first = await mountDevIssuer({ keyFile });
      const token = await first.issuer.issueIdToken('alice');
      await first.server.close();
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'relay'))).mode & 0o777).toBe(0o700);
      expect(JSON.parse(await readFile(keyFile, 'utf8'))).toMatchObject({ kty: 'OKP', crv: 'Ed25519', d: expect.any(String) });

      const second = await mountDevIssuer({ keyFile });
      try {
        // The kid is the key's RFC 7638 thumbprint, so an equal kid means the very same key came back.
        const { keys } = (await (await fetch(`${second.base}/jwks`)).json()) as { keys: Array<{ kid: string }> };
        expect(keys.map((k) => k.kid)).toEqual([decodeProtectedHeader(token).kid]);
        const verifier = createOidcAccountTokenVerifier({ issuer: second.base, audience: AUDIENCE });
        await expect(verifier.verify(await second.issuer.issueIdToken('alice'))).resolves.toMatchObject({ accountId: 'alice' });
      } finally {
        await second.server.close();
      }

      await chmod(keyFile, 0o644);
      await expect(createDevIssuer({ issuerUrl: 'http://127.0.0.1:1/dev-issuer', audience: AUDIENCE, devMode: true, keyFile })).rejects.toThrow(
        /chmod 600/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a wildcard or opaque allowed origin at creation', async () => {
    for (const origin of ['*', 'null', 'file:///tmp/x']) {
      await expect(createDevIssuer({ issuerUrl: 'http://127.0.0.1:1/dev-issuer', audience: AUDIENCE, devMode: true, allowedOrigins: [origin] })).rejects.toThrow(
        TypeError,
      );
    }
  });
});

// Web security of the environment (and the relay's token answers): the owner cookie, CSP and the
// usual headers on every HTML response, CSRF refusal of owner mutations, no credential in any URL,
// and no-store on everything that carries a token.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnvironment } from './env-app';
import { ownerCall, postMint, probe, redeem, relayAccessToken, relayConnect, signedMintRequest } from '../testing/http-probe';
import { startStack, type Stack } from '../testing/stack';

let stack: Stack;
let webRoot: string;
const EVIL = 'http://evil.example';

beforeAll(async () => {
  webRoot = mkdtempSync(join(tmpdir(), 'gatehouse-web-'));
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><html><head><title>Gatehouse</title></head><body><div id="root"></div></body></html>');
  stack = await startStack({ env: { webRoot } });
});
afterAll(async () => {
  await stack.close();
  rmSync(webRoot, { recursive: true, force: true });
});

const env = () => stack.env.publicUrl;
const codeOf = (loginUrl: string) => new URL(loginUrl).hash.replace(/^#code=/, '');

async function login(origin: string | null = env()): Promise<{ status: number; cookie: string | null; setCookie: string | null }> {
  const res = await probe(`${env()}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin && { origin }) },
    body: JSON.stringify({ code: codeOf(stack.env.loginUrl()) }),
  });
  const setCookie = res.headers.get('set-cookie');
  return { status: res.status, setCookie, cookie: setCookie?.split(';')[0] ?? null };
}

describe('owner cookie', () => {
  it('S39 POST /login with a real one-time code sets an HttpOnly, SameSite=Strict, path-wide, 12 h cookie; the code works once', async () => {
    const loginUrl = stack.env.loginUrl();
    expect(loginUrl).toMatch(/\/login#code=[A-Za-z0-9_-]{43}$/); // the code rides in the fragment, never the query
    const body = JSON.stringify({ code: codeOf(loginUrl) });
    const res = await probe(`${env()}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: env() }, body });
    expect(res.status).toBe(200);
    const attributes = res.headers.get('set-cookie')!.split(';').map((part) => part.trim());
    expect(attributes[0]).toMatch(/^gatehouse_owner=[A-Za-z0-9_-]{43}$/);
    expect(attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=43200']));
    expect(attributes).not.toContain('Secure'); // plain http on loopback; see the https case below
    expect(res.headers.get('cache-control')).toBe('no-store');
    const again = await probe(`${env()}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: env() }, body });
    expect(again.status).toBe(401);
    expect(again.headers.get('set-cookie')).toBeNull();
  });

  it('S39 the cookie is Secure when the environment is served over https', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-https-'));
    const secure = await startEnvironment({ dataDir: dir, port: 0, publicUrl: 'https://env.example' });
    try {
      const port = (secure.server.address() as { port: number }).port;
      const res = await probe(`http://127.0.0.1:${port}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: codeOf(secure.loginUrl()) }) });
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')!.split(';').map((p) => p.trim())).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Secure']));
    } finally {
      await secure.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('S39 a login posted from another origin is refused and sets no cookie', async () => {
    const res = await login(EVIL);
    expect(res).toMatchObject({ status: 403, setCookie: null });
  });
});

describe('owner mutations are refused cross-origin (CSRF)', () => {
  it('S39 with a valid cookie: Origin evil.example → 403 and nothing changes; the same request from the env’s origin works', async () => {
    const { cookie } = await login();
    const signer = await stack.newSigner();
    await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
    await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
    const input = { clientProofKeyThumbprint: signer.thumbprint };
    for (const [path, body] of [['connect.clients.approve', input], ['connect.clients.reject', input], ['connect.clients.revoke', input], ['connect.securityMode.set', { mode: 'account' }]] as const) {
      const fromEvil = await ownerCall(stack, path, body, { cookie: cookie!, origin: EVIL });
      expect(fromEvil.status, path).toBe(403);
      expect(fromEvil.headers.get('access-control-allow-origin')).toBeNull();
      const noOriginButCrossSite = await ownerCall(stack, path, body, { cookie: cookie!, 'sec-fetch-site': 'cross-site' });
      expect(noOriginButCrossSite.status, path).toBe(403);
      const garbledOrigin = await ownerCall(stack, path, body, { cookie: cookie!, origin: 'null' });
      expect(garbledOrigin.status, path).toBe(403);
    }
    const list = await probe(`${env()}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } });
    expect(JSON.stringify(list.body)).toContain('"status":"pending"');
    expect((await ownerCall(stack, 'connect.securityMode.get', undefined)).status).toBe(405); // a query, not a mutation
    // Same origin with the same cookie: allowed.
    expect((await ownerCall(stack, 'connect.clients.approve', input, { cookie: cookie!, origin: env() })).status).toBe(200);
  });

  it('S39 a forged or missing cookie gets 401, never the owner', async () => {
    for (const headers of [{ cookie: 'gatehouse_owner=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, { cookie: 'other=1' }, {}] as Array<Record<string, string>>) {
      expect((await ownerCall(stack, 'connect.securityMode.set', { mode: 'account' }, { ...headers, origin: env() })).status).toBe(401);
    }
  });
});

describe('security headers', () => {
  it.each(['/', '/settings/connections', '/device', '/login'])('S50 HTML at %s carries the CSP and the usual security headers', async (path) => {
    const res = await probe(`${env()}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"]) {
      expect(csp, path).toContain(directive);
    }
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-(inline|eval)'/);
    expect(csp).toContain(`connect-src 'self' ${stack.relay.publicUrl}`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('S50 the login page keeps no code in the URL it leaves behind and loads only its own script', async () => {
    const page = await probe(`${env()}/login`);
    expect(page.text).toContain('<script src="/login.js"></script>');
    expect(page.text).not.toMatch(/<script>[^<]/); // no inline script (the CSP would block it anyway)
    const script = await probe(`${env()}/login.js`);
    expect(script.text).toContain("history.replaceState(null, '', '/login')");
    expect(script.text).toContain("method: 'POST'");
  });
});

describe('tokens never in URLs, never cached', () => {
  it('S50 a full connect flow sends no credential, token or proof in any URL', async () => {
    await ownerCall(stack, 'connect.securityMode.set', { mode: 'account' });
    const urls: string[] = [];
    const secrets = new Set<string>();
    const recording: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      urls.push(url);
      const headers = new Headers(init?.headers);
      for (const name of ['authorization', 'dpop']) {
        const value = headers.get(name);
        if (value) secrets.add(value.replace(/^(DPoP|Bearer) /, ''));
      }
      if (typeof init?.body === 'string') for (const value of new URLSearchParams(init.body).values()) if (value.length >= 12) secrets.add(value);
      const res = await fetch(input, init);
      const clone = res.clone();
      const text = await clone.text();
      for (const match of text.matchAll(/"(access_token|credential)":"([^"]+)"/g)) secrets.add(match[2]!);
      return res;
    };
    const signer = await stack.newSigner();
    const session = await stack.connect(signer, { fetch: recording });
    secrets.add(session.accessToken);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    expect(secrets.size).toBeGreaterThanOrEqual(4);
    for (const url of urls) {
      expect(new URL(url).search, url).not.toMatch(/token|credential|proof|code=/i);
      for (const secret of secrets) expect(url.includes(secret), url).toBe(false);
    }
  });

  it('S50 token, mint and connect answers are Cache-Control: no-store, successes and errors alike', async () => {
    await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
    const pending = await stack.newSigner();
    const pendingMint = await postMint(stack, await signedMintRequest(stack, pending.thumbprint));
    expect(pendingMint.body?.status).toBe('pending_approval');
    await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: pending.thumbprint });
    const authorizedMint = await postMint(stack, await signedMintRequest(stack, pending.thumbprint));
    expect(authorizedMint.body?.status).toBe('authorized');
    const redeemed = await redeem(stack, pending, String(authorizedMint.body?.credential));
    expect(redeemed.status).toBe(200);
    const refusedRedeem = await redeem(stack, pending, String(authorizedMint.body?.credential));
    expect(refusedRedeem.status).toBe(400);
    const refusedMint = await postMint(stack, 'not-a-token');
    const relayToken = await relayAccessToken(stack, pending);
    const connect = await relayConnect(stack, pending, String(relayToken.body?.access_token));
    expect(connect.status).toBe(200);
    const refusedConnect = await relayConnect(stack, pending, 'garbage-token');
    for (const [name, res] of Object.entries({ pendingMint, authorizedMint, redeemed, refusedRedeem, refusedMint, relayToken, connect, refusedConnect })) {
      expect(res.headers.get('cache-control'), name).toBe('no-store');
    }
  });
});

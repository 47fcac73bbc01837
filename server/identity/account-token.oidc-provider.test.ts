import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { createOidcAccountTokenVerifier } from './account-token';
import { listenOnLoopback, type TestServer } from './testing';

// The SPEC wants the discovery path proven against a real OpenID provider: node-oidc-provider, code flow, dev login forms.
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const clients = [
  { client_id: 'relay-rs256', alg: 'RS256' },
  { client_id: 'relay-es256', alg: 'ES256' },
  { client_id: 'relay-eddsa', alg: 'EdDSA' },
] as const;
const secrets = new Map<string, string>(clients.map(({ client_id }) => [client_id, randomBytes(24).toString('base64url')]));

let server: TestServer;
let issuer: string;

beforeAll(async () => {
  const signingKeys = await Promise.all(
    (['RS256', 'ES256', 'EdDSA'] as const).map(async (alg) => {
      const { privateKey } = await generateKeyPair(alg, { extractable: true });
      return { ...(await exportJWK(privateKey)), kid: `${alg.toLowerCase()}-1`, alg, use: 'sig' };
    }),
  );
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  server = await listenOnLoopback((req, res) => (handler ? handler(req, res) : res.writeHead(503).end()));
  issuer = server.url;
  const provider = new Provider(issuer, {
    clients: clients.map(({ client_id, alg }) => ({
      client_id,
      client_secret: secrets.get(client_id),
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: alg,
    })),
    jwks: { keys: signingKeys },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    findAccount: (_ctx: unknown, accountId: string) => ({ accountId, claims: () => ({ sub: accountId }) }),
  });
  handler = provider.callback();
});

afterAll(() => server.close());

/** A minimal cookie jar honouring path and deletion, enough for the provider's interaction cookies. */
function cookieJar() {
  const cookies = new Map<string, { value: string; path: string }>();
  return async (url: URL, init: RequestInit = {}): Promise<Response> => {
    const header = [...cookies]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(header ? { cookie: header } : {}), ...init.headers } });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expires = attributes.find((a) => a.toLowerCase().startsWith('expires='));
      const expired = !value || (expires !== undefined && Date.parse(expires.slice(8)) <= Date.now());
      if (expired) cookies.delete(name);
      else cookies.set(name, { value, path });
    }
    return res;
  };
}

/** Drives the authorization-code flow through the provider's own login and consent forms. */
async function obtainIdToken(clientId: string, login: string): Promise<string> {
  const request = cookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(`${issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: REDIRECT_URI,
    state,
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();

  let url = authorize;
  let code: string | undefined;
  const seenPrompts: string[] = [];
  for (let step = 0; step < 12 && !code; step++) {
    const res = await request(url);
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location') ?? '', url);
      if (next.href.startsWith(REDIRECT_URI)) {
        expect(next.searchParams.get('state')).toBe(state);
        code = next.searchParams.get('code') ?? undefined;
        if (!code) throw new Error(`authorization failed: ${next.searchParams.get('error')}`);
      }
      url = next;
      continue;
    }
    const html = await res.text();
    expect(res.status, html.slice(0, 300)).toBe(200);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');
    const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`no interaction form at ${url.pathname}`);
    seenPrompts.push(prompt);
    const fields: Record<string, string> = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
    const submitted = await request(new URL(action, url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    expect(submitted.status).toBe(303);
    url = new URL(submitted.headers.get('location') ?? '', url);
  }
  expect(seenPrompts).toEqual(['login', 'consent']);
  if (!code) throw new Error('the provider never redirected back with a code');

  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secrets.get(clientId)!)}`).toString('base64');
  const token = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
  });
  const body = (await token.json()) as { id_token?: string; error?: string };
  expect(token.status, JSON.stringify(body)).toBe(200);
  if (!body.id_token) throw new Error('the token response has no id_token');
  return body.id_token;
}

describe('createOidcAccountTokenVerifier against a real OpenID provider (oidc-provider)', () => {
  for (const { client_id, alg } of clients) {
    it(`verifies a real ${alg} ID token through discovery + JWKS, and refuses it for another audience`, async () => {
      const idToken = await obtainIdToken(client_id, 'alice');
      expect(decodeProtectedHeader(idToken)).toMatchObject({ alg, kid: `${alg.toLowerCase()}-1` });

      const fetched: string[] = [];
      const recordingFetch: typeof fetch = (input, init) => {
        fetched.push(String(input));
        return fetch(input, init);
      };
      const verifier = createOidcAccountTokenVerifier({ issuer, audience: client_id, fetchImpl: recordingFetch });
      const { accountId, claims } = await verifier.verify(idToken);
      expect(accountId).toBe('alice');
      expect(claims).toMatchObject({ iss: issuer, aud: client_id, sub: 'alice' });

      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
      expect(fetched).toEqual([`${issuer}/.well-known/openid-configuration`, discovery.jwks_uri]);

      const otherAudience = createOidcAccountTokenVerifier({ issuer, audience: 'another-relay' });
      await expect(otherAudience.verify(idToken)).rejects.toMatchObject({
        kind: 'unauthorized',
        reason: 'invalid_token',
        message: expect.stringMatching(/audience/),
      });
    });
  }

  it('refuses the real ID token when configured for another issuer URL', async () => {
    const idToken = await obtainIdToken('relay-rs256', 'bob');
    // Same discovery URL, other spelling (trailing slash): the provider's issuer must match the configured one exactly.
    const verifier = createOidcAccountTokenVerifier({ issuer: `${issuer}/`, audience: 'relay-rs256' });
    await expect(verifier.verify(idToken)).rejects.toMatchObject({
      kind: 'unavailable',
      reason: 'invalid_token',
      message: expect.stringMatching(/different issuer/),
    });
  });
});

// A standards client against a live relay and environment: panva's oauth4webapi (discovery, token
// exchange with DPoP, WWW-Authenticate parsing) and dpop (proofs signed `alg: "Ed25519"`, RFC 9864).
// Nothing here uses Gatehouse's own client code, so what passes is what any RFC client gets.
import { generateProof } from 'dpop';
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './testing/stack';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const CREDENTIAL_TYPE = 'urn:gatehouse:token-type:connect-credential';
const insecure = { [oauth.allowInsecureRequests]: true } as const; // the stack is plain http on 127.0.0.1

let stack: Stack;
let relayAs: oauth.AuthorizationServer;
const client: oauth.Client = { client_id: 'standards-client' };

beforeAll(async () => {
  stack = await startStack();
  await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
  const issuer = new URL(stack.relay.publicUrl);
  relayAs = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
afterAll(async () => {
  await stack?.close();
});

async function exchangeAtRelay(keyPair: CryptoKeyPair, idToken: string, extra: Record<string, string> = {}) {
  const DPoP = oauth.DPoP(client, keyPair);
  const response = await oauth.genericTokenEndpointRequest(relayAs, client, oauth.None(), TOKEN_EXCHANGE, { subject_token: idToken, subject_token_type: ID_TOKEN_TYPE, ...extra }, { DPoP, ...insecure });
  return oauth.processGenericTokenEndpointResponse(relayAs, client, response);
}

/** What refusal a call ended in: the OAuth error, status, and the parsed challenges if any. */
async function refusalOf(call: Promise<unknown>) {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  if (error instanceof oauth.ResponseBodyError) return { status: error.status, error: error.error, body: error.cause as Record<string, unknown> };
  if (error instanceof oauth.WWWAuthenticateChallengeError) return { status: error.status, challenges: error.cause };
  throw error ?? new Error('the call succeeded');
}

/** A relay call the way any DPoP resource client makes it: a JSON POST to a tRPC mutation. */
async function connectThroughRelay(keyPair: CryptoKeyPair, accessToken: string, thumbprint: string) {
  const DPoP = oauth.DPoP(client, keyPair);
  const url = new URL(`${stack.relay.publicUrl}/trpc/environments.connect`);
  const body = JSON.stringify({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: thumbprint });
  const response = await oauth.protectedResourceRequest(accessToken, 'POST', url, new Headers({ 'content-type': 'application/json' }), body, { DPoP, ...insecure });
  expect(response.status).toBe(200);
  return ((await response.json()) as { result: { data: { status: string; endpoint: string; credential: string } } }).result.data;
}

describe('RFC 8414 metadata', () => {
  it('the relay and the environment publish their token endpoint and DPoP algorithms', async () => {
    expect(relayAs).toMatchObject({
      issuer: stack.relay.publicUrl,
      token_endpoint: `${stack.relay.publicUrl}/oauth/token`,
      grant_types_supported: [TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: ['none'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519'],
    });
    const envIssuer = new URL(stack.env.publicUrl);
    const envAs = await oauth.processDiscoveryResponse(envIssuer, await oauth.discoveryRequest(envIssuer, { algorithm: 'oauth2', ...insecure }));
    expect(envAs).toMatchObject({ token_endpoint: `${stack.env.publicUrl}/oauth/token`, dpop_signing_alg_values_supported: expect.arrayContaining(['Ed25519']) });
  });
});

describe.each([
  ['Ed25519', () => oauth.generateKeyPair('Ed25519')],
  ['ES256', () => oauth.generateKeyPair('ES256')],
] as const)('token exchange with a %s DPoP key', (alg, makeKey) => {
  it('relay token → connect → environment session, all through oauth4webapi', async () => {
    const keyPair = await makeKey();
    const relayToken = await exchangeAtRelay(keyPair, await stack.idToken());
    expect(relayToken).toMatchObject({ token_type: 'dpop', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    const thumbprint = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    const answer = await connectThroughRelay(keyPair, relayToken.access_token, thumbprint);
    expect(answer.status).toBe('authorized');
    const envIssuer = new URL(answer.endpoint);
    const envAs: oauth.AuthorizationServer = { issuer: envIssuer.href, token_endpoint: `${answer.endpoint}/oauth/token` };
    const DPoP = oauth.DPoP(client, keyPair);
    const response = await oauth.genericTokenEndpointRequest(envAs, client, oauth.None(), TOKEN_EXCHANGE, { subject_token: answer.credential, subject_token_type: CREDENTIAL_TYPE }, { DPoP, ...insecure });
    const session = await oauth.processGenericTokenEndpointResponse(envAs, client, response);
    expect(session).toMatchObject({ token_type: 'dpop', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    const whoami = await oauth.protectedResourceRequest(session.access_token, 'GET', new URL(`${answer.endpoint}/trpc/client.whoami`), new Headers(), null, { DPoP, ...insecure });
    expect(whoami.status).toBe(200);
    expect(await whoami.json()).toMatchObject({ result: { data: { clientProofKeyThumbprint: thumbprint } } });
    expect(alg).toBeTruthy();
  });
});

describe('401s carry a challenge oauth4webapi can parse (RFC 9110 §15.5.2, RFC 9449 §7.1)', () => {
  it('no token, a bad token, a Bearer token and a tampered proof at the relay and the environment', async () => {
    const keyPair = await oauth.generateKeyPair('Ed25519');
    const relayToken = await exchangeAtRelay(keyPair, await stack.idToken());
    const relayUrl = new URL(`${stack.relay.publicUrl}/trpc/environments.connect`);
    const envUrl = new URL(`${stack.env.publicUrl}/trpc/client.whoami`);
    // oauth4webapi parses challenges as it reads a resource response; it is handed the answer we got.
    const challengesOf = async (response: Response): Promise<oauth.WWWAuthenticateChallenge[]> => {
      const error = await oauth
        .protectedResourceRequest('any', 'GET', new URL(response.url), undefined, undefined, { [oauth.customFetch]: async () => response.clone(), ...insecure })
        .then(() => null, (e: unknown) => e);
      if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw new Error(`no challenge parsed (${response.status})`);
      expect(error.status).toBe(401);
      return error.cause;
    };
    for (const url of [relayUrl, envUrl]) {
      const method = url === relayUrl ? 'POST' : 'GET';
      const json: Record<string, string> = method === 'POST' ? { 'content-type': 'application/json' } : {};
      const body = method === 'POST' ? { body: '{}' } : {};
      const bare = await fetch(url, { method, headers: json, ...body });
      expect(bare.status).toBe(401);
      expect(await challengesOf(bare)).toEqual([{ scheme: 'dpop', parameters: { algs: 'ES256 EdDSA Ed25519' } }]);
      expect((await bare.json()) as unknown).toMatchObject({ error: { data: { reason: 'unauthenticated' } } });

      const proof = await generateProof(keyPair, url.href, method, undefined, 'not-a-real-token-0123456789');
      const badToken = await fetch(url, { method, headers: { authorization: 'dpop not-a-real-token-0123456789', dpop: proof, ...json }, ...body });
      expect(badToken.status).toBe(401);
      expect((await challengesOf(badToken))[0]).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_token', algs: 'ES256 EdDSA Ed25519' } });

      const bearer = await fetch(url, { method, headers: { authorization: `Bearer ${relayToken.access_token}`, ...json }, ...body });
      expect(bearer.status).toBe(401);
      expect((await challengesOf(bearer))[0]).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_token' } });
    }
    // A proof signed for another URL and a replayed one: invalid_dpop_proof, from oauth4webapi's own parser.
    const DPoP = oauth.DPoP(client, keyPair);
    const wrongUrlProof = await generateProof(keyPair, `${stack.relay.publicUrl}/trpc/elsewhere`, 'POST', undefined, relayToken.access_token);
    const wrongUrl = await fetch(relayUrl, { method: 'POST', headers: { authorization: `DPoP ${relayToken.access_token}`, dpop: wrongUrlProof, 'content-type': 'application/json' }, body: '{}' });
    expect(wrongUrl.status).toBe(401);
    expect((await challengesOf(wrongUrl))[0]).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_dpop_proof', algs: 'ES256 EdDSA Ed25519' } });
    expect(wrongUrl.headers.get('access-control-expose-headers') ?? '').toBe(''); // no Origin, no CORS
    const goodProof = await generateProof(keyPair, relayUrl.href, 'POST', undefined, relayToken.access_token);
    const call = () => fetch(relayUrl, { method: 'POST', headers: { authorization: `DPOP ${relayToken.access_token}`, dpop: goodProof, 'content-type': 'application/json' }, body: JSON.stringify({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: 'x'.repeat(43) }) });
    expect((await call()).status).not.toBe(401); // the upper-case scheme is accepted
    const replay = await call();
    expect(replay.status).toBe(401);
    expect((await challengesOf(replay))[0]).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_dpop_proof' } });
    expect(DPoP).toBeTruthy();
  });

  it('exposes WWW-Authenticate to an allowed browser origin', async () => {
    const origin = 'http://127.0.0.1:5556';
    stack.relay.allowOrigin(origin);
    const response = await fetch(`${stack.relay.publicUrl}/trpc/environments.connect`, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP /);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(response.headers.get('access-control-expose-headers')).toMatch(/www-authenticate/i);
  });
});

describe('token endpoint errors (RFC 6749 §5.2, RFC 8693 §2.2.2)', () => {
  const relayToken = () => `${stack.relay.publicUrl}/oauth/token`;
  const post = async (url: string, form: Record<string, string>, headers: Record<string, string> = {}, alg: 'Ed25519' | 'ES256' = 'Ed25519') => {
    const keyPair = await oauth.generateKeyPair(alg);
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await generateProof(keyPair, url, 'POST'), ...headers }, body: new URLSearchParams(form).toString() });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };

  it('each refusal at the relay and the environment has its standard code, a description, and the old reason', async () => {
    const idToken = await stack.idToken();
    for (const url of [relayToken(), `${stack.env.publicUrl}/oauth/token`]) {
      const subjectType = url === relayToken() ? ID_TOKEN_TYPE : CREDENTIAL_TYPE;
      const subject = url === relayToken() ? idToken : 'ABCDEFGHJKLM';
      const ok = { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: subjectType };
      expect(await post(url, { ...ok, grant_type: 'client_credentials' })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type', error_description: expect.any(String), message: expect.any(String), reason: 'unsupported_grant_type' } });
      expect(await post(url, { ...ok, subject_token: 'a.b.c' })).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: 'invalid_grant', error_description: expect.any(String) } });
      expect(await post(url, { ...ok, actor_token: subject, actor_token_type: subjectType })).toMatchObject({ status: 400, body: { error: 'invalid_request', message: expect.stringMatching(/actor_token/) } });
      expect(await post(url, { ...ok, audience: 'https://elsewhere.example' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
      expect(await post(url, { ...ok, resource: 'https://elsewhere.example/api' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
      expect(await post(url, { ...ok, client_secret: 's3cret' })).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
      expect(await post(url, { ...ok, client_assertion: 'a.b.c', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' })).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
      const basic = await post(url, ok, { authorization: `Basic ${Buffer.from('id:secret').toString('base64')}` });
      expect(basic).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(basic.headers.get('www-authenticate')).toBe('Basic realm="gatehouse"');
      const get = await fetch(url);
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      expect(await get.json()).toMatchObject({ error: 'invalid_request' });
      const noProof = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(ok).toString() });
      expect(noProof.status).toBe(400);
      expect(await noProof.json()).toMatchObject({ error: 'invalid_dpop_proof', reason: 'invalid_dpop_proof' });
      expect(noProof.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof", algs="ES256 EdDSA Ed25519"/);
    }
    // The relay's own name as audience and resource is fine.
    expect((await post(relayToken(), { grant_type: TOKEN_EXCHANGE, subject_token: idToken, subject_token_type: ID_TOKEN_TYPE, audience: stack.relay.publicUrl, resource: `${stack.relay.publicUrl}/` })).status).toBe(200);
  });

  it('a relay whose replay store is down answers 503 temporarily_unavailable with Retry-After', async () => {
    const store = stack.relay.deps.store;
    const original = store.consumeMarker.bind(store);
    store.consumeMarker = () => Promise.reject(new Error('database is down'));
    try {
      const refused = await post(relayToken(), { grant_type: TOKEN_EXCHANGE, subject_token: await stack.idToken(), subject_token_type: ID_TOKEN_TYPE });
      expect(refused).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      store.consumeMarker = original;
    }
  });

  it('tampered and wrong-alg proofs are still refused', async () => {
    const keyPair = await oauth.generateKeyPair('Ed25519');
    const form = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: await stack.idToken(), subject_token_type: ID_TOKEN_TYPE }).toString();
    const send = (dpop: string) => fetch(relayToken(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop }, body: form });
    const proof = await generateProof(keyPair, relayToken(), 'POST');
    const [h, p, s] = proof.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, jti: `${String(claims.jti)}x` })).toString('base64url')}.${s}`;
    expect((await send(forged)).status).toBe(400);
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    expect(header.alg).toBe('Ed25519'); // what panva's dpop emits
    const relabelled = `${Buffer.from(JSON.stringify({ ...header, alg: 'ES256' })).toString('base64url')}.${p}.${s}`;
    const wrongAlg = await send(relabelled);
    expect(wrongAlg.status).toBe(400);
    expect(await wrongAlg.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    expect((await send(proof)).status).toBe(200);
    expect(await (await send(proof)).json()).toMatchObject({ error: 'invalid_dpop_proof', message: expect.stringMatching(/already used/) });
  });
});

// The relay's plain endpoints: links (SPEC §3 step 0) and the token exchange (step 2).
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof } from '../../shared/dpop';
import { environmentIdOfKey } from '../common/environment-id';
import { signLinkProof, signUnlinkProof } from '../mint/link-proof';
import { startStack, type Stack } from '../testing/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack.close());

async function link(idToken: string, proof: string) {
  const res = await fetch(`${stack.relay.publicUrl}/v1/links`, { method: 'POST', headers: { authorization: `Bearer ${idToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ proof }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function newEnvKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, environmentId: await environmentIdOfKey(publicJwk) };
}
type EnvKey = Awaited<ReturnType<typeof newEnvKey>>;

const linkProof = async (key: EnvKey, over: { environmentId?: string; publicJwk?: object; relayIssuer?: string; endpoint?: string } = {}) =>
  signLinkProof(key.privateKey, {
    environmentId: over.environmentId ?? key.environmentId,
    environmentPublicKey: (over.publicJwk ?? key.publicJwk) as never,
    ...('endpoint' in over ? { endpoint: over.endpoint } : {}),
    relayIssuer: over.relayIssuer ?? stack.relay.publicUrl,
    now: Date.now(),
  });

const unlinkProof = (key: EnvKey, environmentId = key.environmentId) => signUnlinkProof(key.privateKey, { environmentId, relayIssuer: stack.relay.publicUrl, now: Date.now() });
const unlink = async (environmentId: string, proof: string) =>
  fetch(`${stack.relay.publicUrl}/v1/links/${environmentId}`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof }) });

describe('links (S51: an id binds exactly one key)', () => {
  it('links an environment for the ID token’s account and answers with the relay key and the routed endpoint', async () => {
    const key = await newEnvKey();
    const res = await link(await stack.idToken('alice'), await linkProof(key));
    expect(res).toMatchObject({
      status: 200,
      body: { environmentId: key.environmentId, accountId: 'alice', relayIssuer: stack.relay.publicUrl, relayPublicKey: { kty: 'OKP', crv: 'Ed25519' }, routedEndpoint: `${stack.relay.publicUrl}/e/${key.environmentId}`, endpoint: null },
    });
  });

  it('refuses a link of the same environment to another account with 409, and keeps the first link', async () => {
    const key = await newEnvKey();
    expect((await link(await stack.idToken('bob'), await linkProof(key))).status).toBe(200);
    expect(await link(await stack.idToken('mallory'), await linkProof(key))).toMatchObject({ status: 409, body: { reason: 'environment_link_conflict' } });
    expect((await stack.relay.deps.store.getLink(key.environmentId))?.accountId).toBe('bob');
  });

  it('refuses an id that is not derived from the key: no re-link of an existing id with another key, no squatting', async () => {
    const owner = await newEnvKey();
    expect((await link(await stack.idToken('erin'), await linkProof(owner))).status).toBe(200);
    const attacker = await newEnvKey();
    // The owner's own account token and the owner's id, but the attacker's key and endpoint.
    const hijack = await link(await stack.idToken('erin'), await linkProof(attacker, { environmentId: owner.environmentId, endpoint: 'http://203.0.113.7' }));
    expect(hijack).toMatchObject({ status: 400, body: { reason: 'environment_id_mismatch' } });
    expect((await stack.relay.deps.store.getLink(owner.environmentId))?.environmentPublicKey).toMatchObject({ x: owner.publicJwk.x });
    // An id nobody linked yet cannot be claimed by another key either.
    const unclaimed = await newEnvKey();
    expect(await link(await stack.idToken('mallory'), await linkProof(attacker, { environmentId: unclaimed.environmentId }))).toMatchObject({ status: 400, body: { reason: 'environment_id_mismatch' } });
    expect(await stack.relay.deps.store.getLink(unclaimed.environmentId)).toBeNull();
    // Nor an id in the old random format.
    expect((await link(await stack.idToken('mallory'), await linkProof(attacker, { environmentId: 'env_alice1' }))).status).toBe(400);
  });

  it('after an unlink only the key holder can link the id again (squat after unlink)', async () => {
    const key = await newEnvKey();
    expect((await link(await stack.idToken('frank'), await linkProof(key))).status).toBe(200);
    expect((await unlink(key.environmentId, await unlinkProof(key))).status).toBe(200);
    const squatter = await newEnvKey();
    expect((await link(await stack.idToken('mallory'), await linkProof(squatter, { environmentId: key.environmentId, publicJwk: key.publicJwk }))).status).toBe(400);
    expect((await link(await stack.idToken('mallory'), await linkProof(squatter, { environmentId: key.environmentId }))).status).toBe(400);
    expect(await stack.relay.deps.store.getLink(key.environmentId)).toBeNull();
  });

  it('link and unlink proofs are single-use', async () => {
    const key = await newEnvKey();
    const proof = await linkProof(key);
    expect((await link(await stack.idToken('gina'), proof)).status).toBe(200);
    expect(await link(await stack.idToken('gina'), proof)).toMatchObject({ status: 400, body: { reason: 'invalid_request' } });
    const proofOut = await unlinkProof(key);
    expect((await unlink(key.environmentId, proofOut)).status).toBe(200);
    // Linked again, the replayed unlink proof cannot take it down.
    expect((await link(await stack.idToken('gina'), await linkProof(key))).status).toBe(200);
    expect((await unlink(key.environmentId, proofOut)).status).toBe(401);
    expect(await stack.relay.deps.store.getLink(key.environmentId)).not.toBeNull();
  });

  it.each([
    ['signed by a key other than the one it carries', async () => linkProof(await newEnvKey(), { publicJwk: (await newEnvKey()).publicJwk })],
    ['for another relay', async () => linkProof(await newEnvKey(), { relayIssuer: 'http://127.0.0.1:1' })],
    ['that is not a JWT', async () => 'not.a.jwt'],
  ])('refuses a link proof %s with 400', async (_name, make) => {
    expect((await link(await stack.idToken('carol'), await make())).status).toBe(400);
  });

  it.each([
    ['a fragment that picks the path', 'http://10.0.0.5:8080/#'],
    ['a query that picks the path', 'http://10.0.0.5:8080/admin?'],
    ['userinfo', 'http://user:pass@example.com'],
    ['a scheme other than http(s)', 'file:///etc/passwd'],
    ['dot segments', 'http://example.com/a/../b'],
    ['whitespace', 'http://example.com/a b'],
  ])('S52: refuses a direct endpoint with %s at link time', async (_name, endpoint) => {
    const res = await link(await stack.idToken('carol'), await linkProof(await newEnvKey(), { endpoint }));
    expect(res).toMatchObject({ status: 400, body: { reason: 'invalid_request' } });
  });

  it('refuses a link without a valid account ID token', async () => {
    const proof = await linkProof(await newEnvKey());
    expect((await link('garbage', proof)).status).toBe(401);
    const res = await fetch(`${stack.relay.publicUrl}/v1/links`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof }) });
    expect(res.status).toBe(401);
  });

  it('unlinks only with a proof from the linked environment’s own key', async () => {
    const key = await newEnvKey();
    expect((await link(await stack.idToken('dave'), await linkProof(key))).status).toBe(200);
    const other = await newEnvKey();
    expect((await unlink(key.environmentId, await unlinkProof(other, key.environmentId))).status).toBe(401);
    expect(await stack.relay.deps.store.getLink(key.environmentId)).not.toBeNull();
    expect((await unlink(key.environmentId, await unlinkProof(key))).status).toBe(200);
    expect(await stack.relay.deps.store.getLink(key.environmentId)).toBeNull();
  });
});

describe('token exchange', () => {
  const url = () => `${stack.relay.publicUrl}/oauth/token`;
  const exchange = async (idToken: string, dpop: string) =>
    fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: dpop },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: idToken, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
    });

  it('answers a DPoP access token with no-store', async () => {
    const signer = await stack.newSigner();
    const res = await exchange(await stack.idToken(), await createDpopProof(signer, { htm: 'POST', htu: url() }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toMatchObject({ token_type: 'DPoP', expires_in: 1800, access_token: expect.any(String) });
  });

  it('S13 50 concurrent copies of one proof → exactly one access token', async () => {
    const signer = await stack.newSigner();
    const idToken = await stack.idToken();
    const proof = await createDpopProof(signer, { htm: 'POST', htu: url() });
    const statuses = await Promise.all(Array.from({ length: 50 }, async () => (await exchange(idToken, proof)).status));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(49);
  });

  it('refuses a bad ID token (invalid_request, RFC 8693 §2.2.2; reason invalid_grant) and does not burn the proof', async () => {
    const signer = await stack.newSigner();
    const proof = await createDpopProof(signer, { htm: 'POST', htu: url() });
    const refused = await exchange('a.b.c', proof);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_request', reason: 'invalid_grant', error_description: expect.any(String) });
    expect((await exchange(await stack.idToken(), proof)).status).toBe(200);
  });

  it('refuses a relay access token used with another key (S30) and a Bearer scheme (S21)', async () => {
    const [a, b] = [await stack.newSigner(), await stack.newSigner()];
    const { access_token: token } = (await (await exchange(await stack.idToken(), await createDpopProof(a, { htm: 'POST', htu: url() }))).json()) as { access_token: string };
    const connectUrl = `${stack.relay.publicUrl}/trpc/environments.connect`;
    const body = JSON.stringify({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: b.thumbprint });
    const withB = await fetch(connectUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `DPoP ${token}`, DPoP: await createDpopProof(b, { htm: 'POST', htu: connectUrl, accessToken: token }) }, body });
    expect(withB.status).toBe(401);
    const bearer = await fetch(connectUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
    expect(bearer.status).toBe(401);
    // The right key, but asking for another key's thumbprint: FORBIDDEN.
    const mismatch = await fetch(connectUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `DPoP ${token}`, DPoP: await createDpopProof(a, { htm: 'POST', htu: connectUrl, accessToken: token }) }, body });
    expect(mismatch.status).toBe(403);
  });
});

describe('browser origins', () => {
  it('an origin allowed after start gets CORS on the relay and on the dev issuer’s sign-in endpoints (not its token shortcut); others do not', async () => {
    const origin = 'http://127.0.0.1:5555';
    const preflight = (path: string, from: string) =>
      fetch(`${stack.relay.publicUrl}${path}`, { method: 'OPTIONS', headers: { origin: from, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, dpop' } });
    expect((await preflight('/oauth/token', origin)).headers.get('access-control-allow-origin')).toBeNull();
    stack.relay.allowOrigin(origin);
    expect((await preflight('/oauth/token', origin)).headers.get('access-control-allow-origin')).toBe(origin);
    const signIn = await fetch(`${stack.relay.publicUrl}/dev-issuer/oauth/token`, { method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=refresh_token&refresh_token=nope&client_id=${stack.relay.devIssuer!.clientId}` });
    expect(signIn.headers.get('access-control-allow-origin')).toBe(origin);
    await signIn.body?.cancel();
    // The scripted shortcut is for tests and scripts (SPEC §15): no page of another origin gets a token from it.
    const token = await fetch(`${stack.relay.publicUrl}/dev-issuer/token`, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'owner' }) });
    expect(token.status).toBe(403);
    expect(token.headers.get('access-control-allow-origin')).toBeNull();
    await token.body?.cancel();
    const other = await preflight('/oauth/token', 'http://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

// Two relay instances on one PostgreSQL database behind a load balancer (SPEC §9): they share the
// public URL, the signing key and the database; links and DPoP replay markers are one state.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTRPCUntypedClient, httpLink, TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectToEnvironment, fetchWhoAmI, getRelayAccessToken, type ConnectOptions } from '../../shared/client/connect';
import { dpopFetch } from '../../shared/client/dpop-fetch';
import { createDpopProof, createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../shared/dpop';
import { createOwnerClient } from '../env/owner/owner-client';
import { startEnvironment, type EnvRuntime } from '../env/env-app';
import { PIN_HEADER as PIN, pinnedFetch, startLoadBalancer, type Backend, type LoadBalancer } from '../testing/load-balancer';
import { createTestDatabase, type TestDatabase } from '../testing/postgres';
import { startRelay, type RelayRuntime } from './relay-app';

let database: TestDatabase;
let lb: LoadBalancer;
let relayA: RelayRuntime;
let relayB: RelayRuntime;
let env: EnvRuntime;
let owner: ReturnType<typeof createOwnerClient>;
let dir: string;
const idToken = (account = 'owner') => relayA.devIssuer!.issueIdToken(account);
const newSigner = async () => createDpopSigner(await generateDpopKeyPair(false));
const connect = (signer: DpopSigner, over: Partial<ConnectOptions> = {}) =>
  connectToEnvironment({ relayUrl: lb.url, environmentId: env.environmentId, signer, getIdToken: () => idToken(), ...over });

beforeAll(async () => {
  database = await createTestDatabase('two_relays');
  lb = await startLoadBalancer();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-two-relays-'));
  // Tunnels across instances: three-relays.test.ts. Here the environment has a direct endpoint (it has a public address).
  const common = { port: 0, devIssuer: true, publicUrl: lb.url, databaseUrl: database.url, allowPrivateEndpoints: true };
  relayA = await startRelay({ ...common, dataDir: join(dir, 'relay-a') });
  // Instances behind one URL share its signing key (and, in dev, the dev issuer's key).
  mkdirSync(join(dir, 'relay-b'), { recursive: true, mode: 0o700 });
  for (const file of ['relay-key.json', 'dev-issuer-key.json']) copyFileSync(join(dir, 'relay-a', file), join(dir, 'relay-b', file));
  relayB = await startRelay({ ...common, dataDir: join(dir, 'relay-b') });
  lb.setBackend('a', (relayA.server.address() as AddressInfo).port);
  lb.setBackend('b', (relayB.server.address() as AddressInfo).port);

  env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, connectOrigins: [lb.url], tunnel: false });
  owner = createOwnerClient(env.publicUrl, env.adminToken, 'api');
  lb.route('a'); // the link is made through relay A only
  await env.link(lb.url, await idToken(), { directEndpoint: env.publicUrl });
  lb.route('round-robin');
});

afterAll(async () => {
  await env?.close();
  await relayA?.close();
  await relayB?.close();
  await lb?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('two relay instances on one PostgreSQL database', () => {
  it('a link made through A is known to B, and a client connects through B', async () => {
    expect(lb.log.filter((l) => l.path === '/v1/links').map((l) => l.backend)).toEqual(['a']);
    expect(await relayB.deps.store.getLink(env.environmentId)).toMatchObject({ environmentId: env.environmentId, accountId: 'owner', endpoint: env.publicUrl });

    await owner.connect.securityMode.set.mutate({ mode: 'account' });
    const signer = await newSigner();
    const before = lb.log.length;
    const session = await connect(signer, { fetch: pinnedFetch('b') });
    // (B's own first look at the dev issuer's keys also passes the balancer; only the client's calls count.)
    const clientCalls = lb.log.slice(before).filter((l) => !l.path.startsWith('/dev-issuer'));
    expect(clientCalls.map((l) => `${l.backend} ${l.path}`)).toEqual(['b /oauth/token', 'b /trpc/environments.connect']);
    expect((await fetchWhoAmI(session, signer)).clientProofKeyThumbprint).toBe(signer.thumbprint);
  });

  it('a DPoP proof used at A is refused at B (token exchange)', async () => {
    const signer = await newSigner();
    const proof = await createDpopProof(signer, { htm: 'POST', htu: `${lb.url}/oauth/token` });
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: await idToken(),
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    }).toString();
    const send = (backend: Backend) => fetch(`${lb.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: proof, [PIN]: backend }, body });
    const atA = await send('a');
    expect(atA.status).toBe(200);
    const atB = await send('b');
    expect(atB.status).toBe(400);
    expect(await atB.json()).toMatchObject({ error: 'invalid_dpop_proof', message: 'The DPoP proof was already used.' });
  });

  it('a DPoP proof used at A is refused at B (relay API call with an access token)', async () => {
    await owner.connect.securityMode.set.mutate({ mode: 'account' });
    const signer = await newSigner();
    const { token } = await getRelayAccessToken({ relayUrl: lb.url, signer, getIdToken: () => idToken() });
    // One proof, captured once and sent twice: to A, then replayed to B.
    let captured: string | null = null;
    const replaying = (backend: Backend): typeof fetch => (input, init) => {
      const headers = new Headers(init?.headers);
      captured ??= headers.get('DPoP');
      headers.set('DPoP', captured!);
      headers.set(PIN, backend);
      return fetch(input, { ...init, headers });
    };
    const client = (backend: Backend) => createTRPCUntypedClient({ links: [httpLink({ url: `${lb.url}/trpc`, fetch: dpopFetch(signer, () => token, replaying(backend)) })] });
    const input = { environmentId: env.environmentId, clientProofKeyThumbprint: signer.thumbprint };
    await expect(client('a').mutation('environments.connect', input)).resolves.toMatchObject({ status: 'authorized' });
    const replay = await client('b').mutation('environments.connect', input).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(TRPCClientError);
    expect((replay as TRPCClientError<never>).data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'invalid_dpop_proof' });
  });

  it('200 concurrent presentations of one DPoP proof spread over both instances succeed exactly once', async () => {
    const signer = await newSigner();
    const proof = await createDpopProof(signer, { htm: 'POST', htu: `${lb.url}/oauth/token` });
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: await idToken(),
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    }).toString();
    const before = lb.log.length;
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await fetch(`${lb.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: proof, [PIN]: i % 2 ? 'b' : 'a' }, body });
        return { status: res.status, body: (await res.json()) as { error?: string } };
      }),
    );
    const hits = lb.log.slice(before);
    expect(hits.filter((h) => h.backend === 'a')).toHaveLength(100);
    expect(hits.filter((h) => h.backend === 'b')).toHaveLength(100);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(199);
    expect(new Set(refused.map((a) => `${a.status} ${a.body.error}`))).toEqual(new Set(['400 invalid_dpop_proof']));
  });

  describe('client approval through either instance', () => {
    beforeAll(async () => {
      await owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    });

    it.each([['A', pinnedFetch('a')], ['B', pinnedFetch('b')], ['A and B in turn', fetch]] as const)('through %s: the client waits, the owner approves, it gets in', async (_, fetchImpl) => {
      const signer = await newSigner();
      const pending = vi.fn();
      const connecting = connect(signer, { fetch: fetchImpl, onPending: pending });
      await vi.waitFor(() => expect(pending).toHaveBeenCalledTimes(1));
      await vi.waitFor(() => expect(env.mint.waiting()).toBe(1));
      await owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
      const session = await connecting;
      expect((await fetchWhoAmI(session, signer)).clientProofKeyThumbprint).toBe(signer.thumbprint);
    });

    it('round robin really used both instances for one client', () => {
      const connects = lb.log.filter((l) => l.path === '/trpc/environments.connect').slice(-2);
      expect(new Set(connects.map((c) => c.backend))).toEqual(new Set(['a', 'b']));
    });
  });
});

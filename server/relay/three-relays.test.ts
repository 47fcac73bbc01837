// Three relay instances on one PostgreSQL behind a balancer that passes WebSocket upgrades (SPEC §12):
// an environment tunnels to one; clients arrive at the others, which forward over the internal hop.
// The holder is killed (hard, no cleanup) and another drains: the environment moves, waits complete.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectToEnvironment, fetchWhoAmI, type ConnectOptions } from '../../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../shared/dpop';
import { createOwnerClient } from '../env/owner/owner-client';
import { startEnvironment, type EnvRuntime } from '../env/env-app';
import { pinnedFetch, startLoadBalancer, type Backend, type LoadBalancer } from '../testing/load-balancer';
import { createTestDatabase, type TestDatabase } from '../testing/postgres';
import { sessionStream } from '../testing/session-stream';
import { answerProves, PEER_PATH, peerRequestHeaders } from './peer-hop';
import { startRelay, type RelayConfig, type RelayRuntime } from './relay-app';

let database: TestDatabase;
let lb: LoadBalancer;
let dir: string;
let env: EnvRuntime;
let owner: ReturnType<typeof createOwnerClient>;
const relays: Partial<Record<Backend, RelayRuntime>> = {};
const gone = new Set<Backend>();
const secret = 's3cret-for-the-internal-hop-'.repeat(2);
const names: Backend[] = ['a', 'b', 'c'];
const live = () => names.filter((n) => !gone.has(n));
const holderOf = () => live().find((n) => relays[n]!.deps.tunnels.has(env.environmentId)) ?? null;
const idToken = () => relays.b!.devIssuer!.issueIdToken('owner');
const newSigner = async () => createDpopSigner(await generateDpopKeyPair(false));
const connect = (signer: DpopSigner, over: Partial<ConnectOptions> = {}) =>
  connectToEnvironment({ relayUrl: lb.url, environmentId: env.environmentId, signer, getIdToken: idToken, random: () => 0.2, ...over });

/** Every live instance other than the holder finds the tunnel at the holder. */
async function everyoneSees(holder: Backend): Promise<void> {
  await vi.waitFor(() => expect(holderOf()).toBe(holder), { timeout: 10_000, interval: 20 });
  for (const n of live().filter((n) => n !== holder)) {
    await vi.waitFor(async () => expect((await relays[n]!.deps.peers!.locate(env.environmentId))?.internalUrl).toBe(relays[holder]!.internalUrl), { timeout: 10_000, interval: 20 });
  }
}

beforeAll(async () => {
  database = await createTestDatabase('three_relays');
  lb = await startLoadBalancer();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-three-relays-'));
  const secretFile = join(dir, 'internal-secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const common: Omit<RelayConfig, 'dataDir'> = { port: 0, devIssuer: true, publicUrl: lb.url, databaseUrl: database.url, internalUrl: 'http://127.0.0.1:0', internalSecretFile: secretFile };
  relays.a = await startRelay({ ...common, dataDir: join(dir, 'relay-a') });
  for (const n of ['b', 'c'] as const) {
    mkdirSync(join(dir, `relay-${n}`), { recursive: true, mode: 0o700 });
    for (const file of ['relay-key.json', 'dev-issuer-key.json']) copyFileSync(join(dir, 'relay-a', file), join(dir, `relay-${n}`, file));
    relays[n] = await startRelay({ ...common, dataDir: join(dir, `relay-${n}`) });
  }
  for (const n of names) lb.setBackend(n, (relays[n]!.server.address() as AddressInfo).port);

  lb.route('a'); // the link and the first tunnel land on A
  env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, connectOrigins: [lb.url], tunnel: { backoffBaseMs: 100, backoffMaxMs: 1_000 } });
  owner = createOwnerClient(env.publicUrl, env.adminToken, 'api');
  await env.link(lb.url, await idToken());
  await everyoneSees('a');
  lb.route('round-robin');
}, 60_000);

afterAll(async () => {
  await env?.close();
  for (const n of live()) await relays[n]?.close();
  await lb?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('three relay instances, one tunnel', () => {
  it('account mode: a client connects through B and calls the environment through C, both forwarded to A', async () => {
    await owner.connect.securityMode.set.mutate({ mode: 'account' });
    const signer = await newSigner();
    const session = await connect(signer, { fetch: pinnedFetch('b') });
    expect(session.endpoint).toBe(`${lb.url}/e/${env.environmentId}`);
    expect((await fetchWhoAmI(session, signer, pinnedFetch('c'))).clientProofKeyThumbprint).toBe(signer.thumbprint);
    const health = await fetch(`${lb.url}/e/${env.environmentId}/healthz`, { headers: { 'x-test-backend': 'c' } });
    expect(health.status).toBe(200);
  });

  it('client approval through B, then client.session (SSE) through C, a non-holding instance, ends at once on revoke', async () => {
    await owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const signer = await newSigner();
    const connecting = connect(signer, { fetch: pinnedFetch('b') });
    await vi.waitFor(() => expect(env.mint.waiting()).toBe(1), { timeout: 10_000, interval: 20 });
    await owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await connecting;
    const stream = sessionStream(session, signer, pinnedFetch('c'));
    await stream.active;
    await owner.connect.clients.revoke.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    await stream.done;
    expect(stream.events).toEqual(['active', 'ended:revoked']);
    stream.stop();
  });

  it('the internal hop answers 401 to a request without the secret, with forged gatehouse-internal-* headers, another secret, or replayed', async () => {
    const url = `${relays.a!.internalUrl}${PEER_PATH}/healthz`;
    expect((await fetch(url)).status).toBe(401);
    const forged = {
      'gatehouse-internal-environment': env.environmentId,
      'gatehouse-internal-client-address': '127.0.0.1',
      'gatehouse-internal-nonce': 'n'.repeat(32),
      'gatehouse-internal-time': String(Date.now()),
      'gatehouse-internal-auth': 'A'.repeat(43),
      'gatehouse-client-address': '10.0.0.1',
    };
    const refused = await fetch(url, { headers: forged });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('gatehouse-internal-proof')).toBeNull();
    // A proven request is answered with a proof back; the same request again is a replay: 401.
    const { nonce, headers } = peerRequestHeaders(secret, Date.now(), { environmentId: env.environmentId, method: 'GET', path: '/healthz', clientAddress: '127.0.0.1' });
    const proven = await fetch(url, { headers });
    expect(proven.status).toBe(200);
    expect(answerProves(secret, nonce, env.environmentId, proven.headers.get('gatehouse-internal-proof') ?? '')).toBe(true);
    expect((await fetch(url, { headers })).status).toBe(401);
    // Another secret proves nothing.
    expect((await fetch(url, { headers: peerRequestHeaders(`${secret}x`, Date.now(), { environmentId: env.environmentId, method: 'GET', path: '/healthz', clientAddress: '127.0.0.1' }).headers })).status).toBe(401);
    // The relay's public port does not serve the internal path at all.
    expect((await fetch(`${lb.url}${PEER_PATH}/healthz`, { headers: forged })).status).toBe(404);
  });

  it('a stale location (its instance is gone) is answered environment_offline at once', async () => {
    const ghost = `env_${'q'.repeat(26)}`;
    await relays.a!.deps.store.tunnelLocations!.claim(ghost, { instanceId: 'ri_gone', internalUrl: 'http://127.0.0.1:9', leaseExpiresAt: Date.now() + 30_000 });
    const started = Date.now();
    const res = await fetch(`${lb.url}/e/${ghost}/healthz`, { headers: { 'x-test-backend': 'c' } });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ reason: 'environment_offline' });
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('an answer that does not prove the secret is not passed on: the caller hears environment_offline', async () => {
    const impostor = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'gatehouse-internal-proof': 'forged' });
      res.end('{"ok":true,"from":"impostor"}');
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
    try {
      const ghost = `env_${'r'.repeat(26)}`;
      const internalUrl = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      await relays.a!.deps.store.tunnelLocations!.claim(ghost, { instanceId: 'ri_impostor', internalUrl, leaseExpiresAt: Date.now() + 30_000 });
      const res = await fetch(`${lb.url}/e/${ghost}/healthz`, { headers: { 'x-test-backend': 'b' } });
      expect(res.status).toBe(503);
      expect(await res.text()).not.toContain('impostor');
    } finally {
      impostor.closeAllConnections();
      await new Promise<void>((r) => impostor.close(() => r()));
    }
  });

  it('kill the holder while a client waits for approval through C: the environment moves, the client gets in once approved', async () => {
    await owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const signer = await newSigner();
    const pending = vi.fn();
    const retried = vi.fn();
    const connecting = connect(signer, { fetch: pinnedFetch('c'), onPending: pending, onRetry: retried });
    await vi.waitFor(() => expect(env.mint.waiting()).toBe(1), { timeout: 10_000, interval: 20 });

    const killedAt = Date.now();
    gone.add('a');
    await relays.a!.abandon(); // as kill -9: no GOAWAY, no lease released
    await vi.waitFor(() => expect(holderOf()).not.toBeNull(), { timeout: 10_000, interval: 20 });
    const moved = Date.now() - killedAt;
    lb.removeBackend('a'); // its health check fails now: plain requests no longer go there either
    await everyoneSees(holderOf()!);
    await owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await connecting;
    expect((await fetchWhoAmI(session, signer, pinnedFetch('c'))).clientProofKeyThumbprint).toBe(signer.thumbprint);
    expect(moved).toBeLessThan(5_000);
    console.log(`failover: the environment tunnelled again ${moved} ms after the holder was killed; the client retried ${retried.mock.calls.length}×`);
  });

  it('SIGTERM-style drain of the holder: a held wait through the other instance is answered, the environment moves', async () => {
    await owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const holder = holderOf()!;
    const other = live().find((n) => n !== holder)!;
    const signer = await newSigner();
    const connecting = connect(signer, { fetch: pinnedFetch(other) });
    await vi.waitFor(() => expect(env.mint.waiting()).toBe(1), { timeout: 10_000, interval: 20 });
    lb.removeBackend(holder); // its readiness check fails: the balancer sends nothing new there
    const draining = relays[holder]!.drain(10_000);
    await vi.waitFor(() => expect(relays[other]!.deps.tunnels.has(env.environmentId)).toBe(true), { timeout: 10_000, interval: 20 });
    await owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await connecting;
    expect((await fetchWhoAmI(session, signer)).clientProofKeyThumbprint).toBe(signer.thumbprint);
    await draining;
    expect(relays[holder]!.deps.tunnels.count()).toBe(0);
    const readyz = (n: Backend) => fetch(`http://127.0.0.1:${(relays[n]!.server.address() as AddressInfo).port}/readyz`).then((r) => r.status);
    expect(await readyz(holder)).toBe(503); // draining: takes no tunnels
    expect(await readyz(other)).toBe(200);
    expect(await relays[other]!.deps.store.tunnelLocations!.locate(env.environmentId, Date.now())).toMatchObject({ internalUrl: relays[other]!.internalUrl });
  });
});

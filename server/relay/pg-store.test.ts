// What only the PostgreSQL store has to prove: several instances (pools) on one database, migrations
// started at once, and a database that goes away and comes back.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DomainError } from '../common/errors';
import { createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from '../testing/postgres';
import { describeDatabaseUrl, isDatabaseUnavailable, openPgRelayStore, UNAVAILABLE_MESSAGE } from './pg-store';
import type { RelayStore } from './store';

const key = (x: string) => ({ kty: 'OKP', crv: 'Ed25519', x });

describe('PostgreSQL relay store: several instances on one database', () => {
  let database: TestDatabase;
  let stores: RelayStore[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('pg_store');
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await database?.drop();
  });

  it('four instances starting at once migrate the empty database exactly once', async () => {
    stores = await Promise.all(Array.from({ length: 4 }, () => openPgRelayStore(database.url, { max: 5 })));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const applied = await client.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
      // Each migration once, not once per instance.
      const journal = JSON.parse(readFileSync(new URL('../../drizzle/relay-pg/meta/_journal.json', import.meta.url), 'utf8')) as { entries: unknown[] };
      expect(applied.rows[0].n).toBe(journal.entries.length);
      const tables = await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
      expect(tables.rows.map((r) => r.table_name)).toEqual(['relay_identity', 'relay_links', 'relay_tunnels', 'replay_markers']);
    } finally {
      await client.end();
    }
  });

  it('a link saved through one instance is read through another', async () => {
    const [a, b] = stores as [RelayStore, RelayStore];
    await a.saveLink({ environmentId: 'env-shared', accountId: 'alice', environmentPublicKey: key('A'), endpoint: 'http://a' }, 1_000);
    expect(await b.getLink('env-shared')).toMatchObject({ accountId: 'alice', endpoint: 'http://a' });
    expect(await b.saveLink({ environmentId: 'env-shared', accountId: 'mallory', environmentPublicKey: key('M'), endpoint: 'http://m' }, 2_000)).toEqual({ saved: false, accountId: 'alice' });
  });

  it('200 concurrent uses of one marker spread over four instances: exactly one succeeds', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => stores[i % stores.length]!.consumeMarker('dpop', 'one-proof', Date.now() + 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    // And afterwards every instance refuses it.
    for (const s of stores) expect(await s.consumeMarker('dpop', 'one-proof', Date.now() + 60_000)).toBe(false);
  });

  it('a marker pruned by one instance is gone for all', async () => {
    const [a, b] = stores as [RelayStore, RelayStore];
    await a.consumeMarker('dpop', 'old', 10);
    expect(await b.pruneMarkers(20)).toBeGreaterThanOrEqual(1);
    expect(await a.consumeMarker('dpop', 'old', 10)).toBe(true);
  });

  it('tunnel locations: a claim is seen by every instance and NOTIFYd; a lapsed lease is no location; only the holder releases', async () => {
    const [a, b, c] = stores.map((s) => s.tunnelLocations!);
    const heard: string[] = [];
    let listening!: () => void;
    const up = new Promise<void>((r) => (listening = r));
    c!.listen((environmentId, instanceId) => heard.push(`${environmentId} ${instanceId}`), (on) => on && listening());
    await up;
    const now = Date.now();
    await a!.claim('env_moving', { instanceId: 'ri_a', internalUrl: 'http://10.0.0.1:4300', leaseExpiresAt: now + 30_000 });
    expect(await b!.locate('env_moving', now)).toEqual({ instanceId: 'ri_a', internalUrl: 'http://10.0.0.1:4300', leaseExpiresAt: now + 30_000 });
    // An instance that stopped renewing (killed) holds nothing once its lease lapses.
    expect(await b!.locate('env_moving', now + 30_001)).toBeNull();
    await a!.renew('ri_a', ['env_moving'], now + 60_000);
    expect(await b!.locate('env_moving', now + 30_001)).toMatchObject({ instanceId: 'ri_a' });
    // The environment moved to B; A's late release of its old tunnel removes nothing.
    await b!.claim('env_moving', { instanceId: 'ri_b', internalUrl: 'http://10.0.0.2:4300', leaseExpiresAt: now + 30_000 });
    await a!.release('env_moving', 'ri_a');
    expect(await c!.locate('env_moving', now)).toMatchObject({ instanceId: 'ri_b' });
    await b!.release('env_moving', 'ri_b');
    expect(await c!.locate('env_moving', now)).toBeNull();
    await vi.waitFor(() => expect(heard).toEqual(['env_moving ri_a', 'env_moving ri_b', 'env_moving ']));
  });

  it('close ends the pool and may be called twice', async () => {
    const extra = await openPgRelayStore(database.url, { max: 2 });
    await extra.getLink('x');
    await extra.close();
    await extra.close();
    await expect(extra.getLink('x')).rejects.toThrow();
  });
});

describe('PostgreSQL relay store: the database goes down and comes back', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let store: RelayStore;

  beforeAll(async () => {
    database = await createTestDatabase('pg_outage');
    proxy = await startTcpProxy(database.url);
    store = await openPgRelayStore(proxy.via(database.url), { max: 4, connectionTimeoutMs: 1_000 });
  });
  afterAll(async () => {
    await store?.close();
    await proxy?.close();
    await database?.drop();
  });

  it('every operation fails with DomainError unavailable while it is down, and works again after, without reopening', async () => {
    expect(await store.consumeMarker('dpop', 'before', Date.now() + 60_000)).toBe(true);
    await proxy.cut();
    const ops: Array<() => Promise<unknown>> = [
      () => store.getLink('env'),
      () => store.saveLink({ environmentId: 'env', accountId: 'alice', environmentPublicKey: key('A'), endpoint: 'http://a' }, 1),
      () => store.deleteLink('env'),
      () => store.consumeMarker('dpop', 'during', Date.now() + 60_000),
      () => store.pruneMarkers(Date.now()),
    ];
    for (const op of ops) {
      const error = await op().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({ kind: 'unavailable', reason: 'internal', message: UNAVAILABLE_MESSAGE });
    }
    await proxy.restore();
    expect(await store.consumeMarker('dpop', 'after', Date.now() + 60_000)).toBe(true);
    expect(await store.consumeMarker('dpop', 'before', Date.now() + 60_000)).toBe(false); // nothing was lost
    expect(await store.saveLink({ environmentId: 'env', accountId: 'alice', environmentPublicKey: key('A'), endpoint: 'http://a' }, 1)).toEqual({ saved: true });
  });

  it('a database that cannot be reached at start fails start-up with a clear message, no password in it', async () => {
    await proxy.cut();
    try {
      const url = proxy.via(database.url);
      await expect(openPgRelayStore(url, { connectionTimeoutMs: 1_000 })).rejects.toThrow(/^Could not reach the relay database postgres:\/\/gatehouse@127\.0\.0\.1:\d+\/gh_pg_outage_\w+: ECONNREFUSED/);
    } finally {
      await proxy.restore();
    }
  });
});

describe('PostgreSQL relay store: helpers', () => {
  it('classifies connection failures as unavailable, other errors not', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('the database system is shutting down'), { code: '57P03' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Failed query: select 1', { cause: Object.assign(new Error('x'), { code: '08006' }) }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('syntax error'), { code: '42601' }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
  });

  it('describes a database URL without its password', () => {
    expect(describeDatabaseUrl('postgres://relay:s3cret@db.internal:5432/gatehouse?sslmode=require')).toBe('postgres://relay@db.internal:5432/gatehouse');
  });

  it('refuses a URL that is not PostgreSQL', async () => {
    await expect(openPgRelayStore('mysql://x@y/z')).rejects.toThrow(/postgres:\/\//);
  });
});

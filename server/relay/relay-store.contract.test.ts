// The RelayStore contract, run against both stores: the embedded SQLite file and PostgreSQL.
// Services only see this interface, so both must answer exactly alike.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/postgres';
import { openPgRelayStore } from './pg-store';
import { openSqliteRelayStore } from './sqlite-store';
import type { RelayStore } from './store';

interface StoreFixture {
  open(): Promise<RelayStore>;
  cleanup(): Promise<void>;
}

const fixtures: Record<'sqlite' | 'postgres', () => Promise<StoreFixture>> = {
  async sqlite() {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-store-'));
    return {
      open: async () => openSqliteRelayStore(join(dir, 'relay.sqlite')),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  async postgres() {
    const database: TestDatabase = await createTestDatabase('contract');
    return { open: () => openPgRelayStore(database.url), cleanup: () => database.drop() };
  },
};

const key = (x: string) => ({ kty: 'OKP', crv: 'Ed25519', x });
let seq = 0;
const envId = () => `env-${Date.now().toString(36)}-${++seq}`;

describe.each(['sqlite', 'postgres'] as const)('RelayStore contract: %s', (kind) => {
  let fixture: StoreFixture;
  let store: RelayStore;

  beforeAll(async () => {
    fixture = await fixtures[kind]();
    store = await fixture.open();
  });
  afterAll(async () => {
    await store?.close();
    await fixture?.cleanup();
  });

  describe('links', () => {
    it('an unknown environment has no link', async () => {
      expect(await store.getLink('no-such-environment')).toBeNull();
    });

    it('saves a link and reads it back with its times and public key intact', async () => {
      const environmentId = envId();
      expect(await store.saveLink({ environmentId, accountId: 'alice', environmentPublicKey: key('AAA'), endpoint: 'http://127.0.0.1:4100' }, 1_000)).toEqual({ saved: true });
      expect(await store.getLink(environmentId)).toEqual({
        environmentId,
        accountId: 'alice',
        environmentPublicKey: key('AAA'),
        endpoint: 'http://127.0.0.1:4100',
        createdAt: 1_000,
        updatedAt: 1_000,
      });
    });

    it('keeps millisecond timestamps beyond 2^31 exactly', async () => {
      const environmentId = envId();
      const now = 1_795_493_178_837;
      await store.saveLink({ environmentId, accountId: 'alice', environmentPublicKey: key('T'), endpoint: 'http://e' }, now);
      expect(await store.getLink(environmentId)).toMatchObject({ createdAt: now, updatedAt: now });
    });

    it('the same account refreshes its link: new key and endpoint, createdAt kept', async () => {
      const environmentId = envId();
      await store.saveLink({ environmentId, accountId: 'alice', environmentPublicKey: key('old'), endpoint: 'http://old' }, 1_000);
      expect(await store.saveLink({ environmentId, accountId: 'alice', environmentPublicKey: key('new'), endpoint: 'http://new' }, 2_000)).toEqual({ saved: true });
      expect(await store.getLink(environmentId)).toMatchObject({ accountId: 'alice', environmentPublicKey: key('new'), endpoint: 'http://new', createdAt: 1_000, updatedAt: 2_000 });
    });

    it('refuses a link of the same environment to another account, and names the owner; nothing changes', async () => {
      const environmentId = envId();
      await store.saveLink({ environmentId, accountId: 'alice', environmentPublicKey: key('A'), endpoint: 'http://alice' }, 1_000);
      expect(await store.saveLink({ environmentId, accountId: 'mallory', environmentPublicKey: key('M'), endpoint: 'http://mallory' }, 2_000)).toEqual({ saved: false, accountId: 'alice' });
      expect(await store.getLink(environmentId)).toMatchObject({ accountId: 'alice', environmentPublicKey: key('A'), endpoint: 'http://alice', updatedAt: 1_000 });
    });

    it('deletes a link once; then another account may link the environment', async () => {
      const environmentId = envId();
      await store.saveLink({ environmentId, accountId: 'alice', environmentPublicKey: key('A'), endpoint: 'http://alice' }, 1_000);
      expect(await store.deleteLink(environmentId)).toBe(true);
      expect(await store.deleteLink(environmentId)).toBe(false);
      expect(await store.getLink(environmentId)).toBeNull();
      expect(await store.saveLink({ environmentId, accountId: 'bob', environmentPublicKey: key('B'), endpoint: 'http://bob' }, 3_000)).toEqual({ saved: true });
      expect(await store.getLink(environmentId)).toMatchObject({ accountId: 'bob', createdAt: 3_000 });
    });

    it('two accounts racing for one environment: exactly one wins', async () => {
      const environmentId = envId();
      const accounts = Array.from({ length: 20 }, (_, i) => `account-${i}`);
      const results = await Promise.all(accounts.map((accountId) => store.saveLink({ environmentId, accountId, environmentPublicKey: key(accountId), endpoint: `http://${accountId}` }, 5_000)));
      const winners = results.filter((r) => r.saved);
      expect(winners).toHaveLength(1);
      const owner = (await store.getLink(environmentId))!.accountId;
      for (const r of results) if (!r.saved) expect(r.accountId).toBe(owner);
    });
  });

  describe('single-use markers', () => {
    it('a marker is consumed once; kinds are separate namespaces', async () => {
      const key = `jti-${envId()}`;
      expect(await store.consumeMarker('dpop', key, Date.now() + 60_000)).toBe(true);
      expect(await store.consumeMarker('dpop', key, Date.now() + 60_000)).toBe(false);
      expect(await store.consumeMarker('other', key, Date.now() + 60_000)).toBe(true);
    });

    it('200 concurrent uses of one marker: exactly one succeeds', async () => {
      const key = `race-${envId()}`;
      const results = await Promise.all(Array.from({ length: 200 }, () => store.consumeMarker('dpop', key, Date.now() + 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('prune removes only expired markers and counts them; a live marker stays spent', async () => {
      const now = 9_000_000_000_000; // beyond every marker the other tests wrote
      const expiredA = `expired-a-${envId()}`;
      const expiredB = `expired-b-${envId()}`;
      const live = `live-${envId()}`;
      await store.pruneMarkers(now); // start from a known state
      expect(await store.consumeMarker('dpop', expiredA, now - 2)).toBe(true);
      expect(await store.consumeMarker('dpop', expiredB, now - 1)).toBe(true);
      expect(await store.consumeMarker('dpop', live, now + 60_000)).toBe(true);
      expect(await store.pruneMarkers(now)).toBe(2);
      expect(await store.pruneMarkers(now)).toBe(0);
      expect(await store.consumeMarker('dpop', live, now + 60_000)).toBe(false);
      // The pruned rows are gone: their keys are unknown again (the proof itself is long expired by then).
      expect(await store.consumeMarker('dpop', expiredA, now - 2)).toBe(true);
    });
  });
});

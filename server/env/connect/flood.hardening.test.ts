// Flood control (SPEC §5.3, SECURITY S44) at the service level with 10,000 distinct keys sent
// through the real mint service: the pending cap, the 24 h expiry and the per-client event
// throttle hold, rows, audit entries and memory stay bounded, new registrations are rate-limited,
// and an approved client keeps connecting throughout.
import { beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { settledMemory } from '../../testing/gc';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { listClients } from './clients.service';
import { requestClient } from './client-requests.service';
import { approveClient } from './client-decisions.service';
import { PENDING_CAP, PENDING_TTL_MS } from './pending-bounds';
import { setSecurityMode } from './security-mode.service';

const KEYS = 10_000;
const RELAY = 'https://relay.flood.test';
const ENV_ID = 'env_flood';
const APPROVED = fakeThumbprint(1);

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup() {
  const { deps, clock, mint, sign } = createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'owner' });
  setSecurityMode(deps, 'client-approval', 'api');
  // Only what the assertions need, so the test's own bookkeeping does not weigh on the heap figure.
  const events: Array<{ type: AccessEvent['type']; thumbprint: string | undefined }> = [];
  deps.bus.subscribe((e) => events.push({ type: e.type, thumbprint: e.type === 'connectClientUpserted' ? e.payload.clientProofKeyThumbprint : undefined }));
  const ask = async (thumbprint: string) => mint.mint(await sign(thumbprint), new AbortController().signal);
  const count = (sql: string) => (deps.db.$client.prepare(sql).get() as { n: number }).n;
  const activePending = () => count("SELECT count(*) AS n FROM connect_clients WHERE status = 'pending' AND revoked_at IS NULL");
  /** Every drop of a kind, summed over its aggregated audit entries. */
  const dropped = (action: string) =>
    (deps.db.$client.prepare("SELECT detail ->> '$.count' AS n FROM audit_log WHERE action = ?").all(action) as { n: number }[]).reduce((sum, e) => sum + e.n, 0);
  return { deps, clock, events, mint, sign, ask, count, activePending, dropped };
}

describe('flood control with 10,000 distinct keys', () => {
  it(
    'S44 pending cap holds, rows and audit entries stay bounded, each key emits one event per second at most, memory stays bounded, and an approved client keeps connecting',
    async () => {
      const env = setup();
      await env.ask(APPROVED);
      approveClient(env.deps, APPROVED, 'web');
      // Warm up (JIT, statement caches) before the baseline is taken.
      for (let i = 0; i < 200; i++) requestClient(env.deps, { clientProofKeyThumbprint: fakeThumbprint(900_000 + i), accountId: 'owner' });
      const before = settledMemory();
      const eventsBefore = env.events.length;
      let maxPending = 0;
      let approvedAnswers = 0;
      for (let i = 0; i < KEYS; i++) {
        env.clock.advance(10);
        const thumbprint = fakeThumbprint(100_000 + i);
        // Every 50th key comes through the full mint path (verify, markers, upsert, signed answer);
        // the rest through the same upsert at the service level, to keep the suite fast.
        if (i % 50 === 0) expect((await env.ask(thumbprint)).status).toBe('pending_approval');
        else requestClient(env.deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
        // The same key asking again within its second is throttled: no second event.
        if (i % 10 === 0) requestClient(env.deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
        if (i % 250 === 0) {
          maxPending = Math.max(maxPending, env.activePending());
          expect((await env.ask(APPROVED)).status).toBe('authorized');
          approvedAnswers++;
        }
      }
      const after = settledMemory();
      const rssGrowthMiB = after.rssMiB - before.rssMiB;
      const heapGrowthMiB = after.heapMiB - before.heapMiB;

      expect(maxPending).toBeLessThanOrEqual(PENDING_CAP);
      expect(env.activePending()).toBe(PENDING_CAP);
      expect(listClients(env.deps)).toHaveLength(PENDING_CAP + 1);
      expect(listClients(env.deps).find((c) => c.clientProofKeyThumbprint === APPROVED)).toMatchObject({ status: 'approved', lastSeenAt: expect.any(String) });
      expect(approvedAnswers).toBe(KEYS / 250);
      // Storage is bounded too: the cap plus the one decided client, no tombstones of never-decided keys.
      expect(env.count('SELECT count(*) AS n FROM connect_clients')).toBeLessThanOrEqual(PENDING_CAP + 1);
      // Every eviction is counted in the audit log, in a handful of aggregated entries (one a minute of
      // the 100 s flood) instead of one per key; the newest keys are the ones kept.
      expect(env.dropped('pending_evicted')).toBe(KEYS + 200 - PENDING_CAP);
      expect(env.count("SELECT count(*) AS n FROM audit_log WHERE action = 'pending_evicted'")).toBeLessThanOrEqual(3);
      // Mode change, the approved client's request and approval, the kept keys' requests, the drops.
      expect(env.count('SELECT count(*) AS n FROM audit_log')).toBeLessThanOrEqual(PENDING_CAP + 10);
      expect(listClients(env.deps).map((c) => c.clientProofKeyThumbprint)).toContain(fakeThumbprint(100_000 + KEYS - 1));
      // Exactly one upsert per new key: its throttled second ask adds none.
      const flood = env.events.slice(eventsBefore);
      const upserts = flood.filter((e) => e.type === 'connectClientUpserted' && e.thumbprint !== APPROVED).length;
      expect(upserts).toBe(KEYS);
      // SQLite keeps the pages it grew into while churning rows, so some growth is expected; unbounded state would show far more.
      expect(rssGrowthMiB).toBeLessThan(96);
      // The JS heap (throttle map, event history, waiters) stays small: the growth is SQLite's pages.
      expect(heapGrowthMiB).toBeLessThan(8);
      console.info(`[flood] ${KEYS} keys: max active pending ${maxPending}, RSS growth ${rssGrowthMiB.toFixed(1)} MiB (heap ${heapGrowthMiB.toFixed(1)} MiB), ${env.count('SELECT count(*) AS n FROM connect_clients')} client rows, ${env.count('SELECT count(*) AS n FROM audit_log')} audit rows`);
    },
    120_000,
  );

  it('S36 pending entries untouched for 24 h expire (audited), approved ones never do', async () => {
    const env = setup();
    await env.ask(APPROVED);
    approveClient(env.deps, APPROVED, 'web');
    for (let i = 0; i < 50; i++) await env.ask(fakeThumbprint(200_000 + i));
    env.clock.advance(PENDING_TTL_MS - 1000);
    await env.ask(fakeThumbprint(200_000)); // touched: survives
    env.clock.advance(2000);
    await env.ask(fakeThumbprint(300_000)); // a new key triggers the sweep
    expect(listClients(env.deps).map((c) => c.clientProofKeyThumbprint).sort()).toEqual([APPROVED, fakeThumbprint(200_000), fakeThumbprint(300_000)].sort());
    expect(env.dropped('pending_expired')).toBe(49);
    expect(env.count("SELECT count(*) AS n FROM audit_log WHERE action = 'pending_expired'")).toBe(1);
    expect(env.count('SELECT count(*) AS n FROM connect_clients')).toBe(3);
    expect((await env.ask(APPROVED)).status).toBe('authorized');
  });

  it('S44 new pending registrations are rate-limited per environment (bursts of 100, then 20/s); approved clients never are', async () => {
    const env = setup();
    await env.ask(APPROVED); // a new key too: it takes the first token
    approveClient(env.deps, APPROVED, 'web');
    const outcomes = { pending: 0, limited: 0 };
    const refused: string[] = [];
    for (let i = 0; i < 150; i++) {
      const token = await env.sign(fakeThumbprint(500_000 + i));
      try {
        expect((await env.mint.mint(token, new AbortController().signal)).status).toBe('pending_approval');
        outcomes.pending++;
      } catch (error) {
        expect(error).toMatchObject({ kind: 'too_many_requests', reason: 'rate_limited' });
        outcomes.limited++;
        if (refused.length === 0) refused.push(token);
      }
      // Known clients keep going, whatever the bucket holds.
      if (i % 10 === 0) expect((await env.ask(APPROVED)).status).toBe('authorized');
    }
    expect(outcomes).toEqual({ pending: 99, limited: 51 });
    // A refusal records nothing: no row, no audit entry, and its jti is not burnt.
    expect(env.activePending()).toBe(99);
    expect(env.count("SELECT count(*) AS n FROM audit_log WHERE action = 'client_requested'")).toBe(100);
    env.clock.advance(1000); // 20 tokens
    expect((await env.mint.mint(refused[0]!, new AbortController().signal)).status).toBe('pending_approval');
    for (let i = 0; i < 19; i++) expect((await env.ask(fakeThumbprint(600_000 + i))).status).toBe('pending_approval');
    await expect(env.ask(fakeThumbprint(700_000))).rejects.toMatchObject({ reason: 'rate_limited' });
    // A pending client asking again is not new, and takes nothing.
    expect((await env.ask(fakeThumbprint(600_000))).status).toBe('pending_approval');
    expect((await env.ask(APPROVED)).status).toBe('authorized');
  });

  it('S44 one pending key asking 1,000 times over 10 s emits at most one event per second', async () => {
    const env = setup();
    const thumbprint = fakeThumbprint(400_000);
    for (let i = 0; i < 1000; i++) {
      await env.ask(thumbprint);
      env.clock.advance(10);
    }
    const upserts = env.events.filter((e) => e.type === 'connectClientUpserted').length;
    expect(upserts).toBeGreaterThanOrEqual(10);
    expect(upserts).toBeLessThanOrEqual(11);
    expect(listClients(env.deps)[0]?.requestCount).toBe(1000);
  });
});

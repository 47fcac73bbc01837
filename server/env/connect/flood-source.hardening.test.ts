// S44 per source: one device minting fresh keys runs out of its own share of new registrations
// before it can drain the environment's, and a flood never evicts a device that is waiting now.
import { beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../common/errors';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { findActiveClient } from './clients.service';
import { PENDING_CAP } from './pending-bounds';
import { setSecurityMode } from './security-mode.service';

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup() {
  const env = createLinkedMintEnv(relayKey, { relayIssuer: 'https://relay.flood.test', environmentId: 'env_flood', accountId: 'owner' });
  setSecurityMode(env.deps, 'client-approval', 'api');
  const ask = async (n: number, address: string | null, over: { waitSeconds?: number; signal?: AbortSignal } = {}) =>
    env.mint.mint(await env.sign(fakeThumbprint(n), { ...(address && { source: { address } }), ...(over.waitSeconds && { waitSeconds: over.waitSeconds }) }), over.signal ?? new AbortController().signal);
  return { ...env, ask };
}

const refusedFor = (p: Promise<unknown>) => p.then(() => 'admitted', (e: unknown) => (e instanceof DomainError ? e.reason : String(e)));

describe('S44 new clients per source', () => {
  it('a source with fresh keys stops at its own share; another source still gets in', async () => {
    const { ask } = setup();
    const results: string[] = [];
    for (let n = 0; n < 30; n++) results.push(await refusedFor(ask(n, '203.0.113.7')));
    expect(results.filter((r) => r === 'admitted')).toHaveLength(10); // the per-source burst
    expect(results.slice(10).every((r) => r === 'rate_limited')).toBe(true);
    // The environment's own share was not drained by it: a different device registers at once.
    expect(await refusedFor(ask(1000, '198.51.100.2'))).toBe('admitted');
  });

  it('the share refills with time (2 per second)', async () => {
    const { ask, clock } = setup();
    for (let n = 0; n < 10; n++) await ask(n, '203.0.113.8');
    expect(await refusedFor(ask(10, '203.0.113.8'))).toBe('rate_limited');
    clock.advance(1000);
    expect(await refusedFor(ask(11, '203.0.113.8'))).toBe('admitted');
    expect(await refusedFor(ask(12, '203.0.113.8'))).toBe('admitted');
    expect(await refusedFor(ask(13, '203.0.113.8'))).toBe('rate_limited');
  });
});

describe('S44 eviction spares a waiting device', () => {
  it('a flood of new keys past the cap evicts old rows, never the one whose owner-wait is open', async () => {
    const { ask, deps, mint, clock } = setup();
    const waiting = 0;
    await ask(waiting, '192.0.2.1'); // the oldest pending row
    const abort = new AbortController();
    const held = ask(waiting, '192.0.2.1', { waitSeconds: 25, signal: abort.signal });
    await expect.poll(() => mint.waiting()).toBe(1);
    await ask(1, '192.0.2.50'); // an old row nobody waits on
    // PENDING_CAP + 20 fresh keys from many sources (each within its share), over several seconds.
    for (let n = 2; n < PENDING_CAP + 22; n++) {
      clock.advance(60);
      await ask(n, `198.18.${n >> 8}.${n & 255}`);
    }
    expect(findActiveClient(deps.db, fakeThumbprint(waiting))?.status).toBe('pending');
    expect(findActiveClient(deps.db, fakeThumbprint(1))).toBeUndefined(); // evicted: oldest without a wait
    abort.abort();
    await held;
  });
});

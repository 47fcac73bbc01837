// The mint path's queries are prepared once per database: after the first mint, a mint compiles no
// SQL at all (compiling was most of a mint's database time, docs/performance.md).
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { requestClient } from '../connect/client-requests.service';
import { approveClient } from '../connect/client-decisions.service';
import { setSecurityMode } from '../connect/security-mode.service';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { openMemoryEnvDatabase } from './database';
import { hotQueries } from './hot-queries';

const RELAY = 'https://relay.hot.test';

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

describe('hotQueries', () => {
  it('prepares once per database, and each database gets its own', () => {
    const a = openMemoryEnvDatabase();
    const b = openMemoryEnvDatabase();
    expect(hotQueries(a)).toBe(hotQueries(a));
    expect(hotQueries(a)).not.toBe(hotQueries(b));
    hotQueries(a).consumeMarker.run({ kind: 'dpop', key: 'k', expiresAt: 1 });
    expect(hotQueries(b).consumeMarker.run({ kind: 'dpop', key: 'k', expiresAt: 1 }).changes).toBe(1);
  });

  it.each(['account', 'client-approval'] as const)('a %s mint after the first compiles no SQL', async (mode) => {
    const { deps, mint, sign } = createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: 'env_hot', accountId: 'owner' });
    const thumbprint = fakeThumbprint(1);
    setSecurityMode(deps, mode, 'api');
    if (mode === 'client-approval') {
      requestClient(deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
      approveClient(deps, thumbprint, 'api');
    }
    const once = async () => (await mint.mint(await sign(thumbprint), new AbortController().signal)).status;
    expect(await once()).toBe('authorized');
    const prepare = vi.spyOn(deps.db.$client, 'prepare');
    expect(await Promise.all([once(), once(), once()])).toEqual(['authorized', 'authorized', 'authorized']);
    expect(prepare.mock.calls.map(([source]) => source)).toEqual([]);
  });

  it('a never-seen key asking (the flood path: registration, pending bounds, audit) compiles no SQL after the first', async () => {
    const { deps, mint, sign } = createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: 'env_hot', accountId: 'owner' });
    setSecurityMode(deps, 'client-approval', 'api');
    const ask = async (n: number) => (await mint.mint(await sign(fakeThumbprint(n)), new AbortController().signal)).status;
    expect(await ask(1)).toBe('pending_approval');
    const prepare = vi.spyOn(deps.db.$client, 'prepare');
    expect(await Promise.all([ask(2), ask(3), ask(4)])).toEqual(['pending_approval', 'pending_approval', 'pending_approval']);
    expect(prepare.mock.calls.map(([source]) => source)).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import type { AccessEvent, ConnectClient } from '../trpc';
import { clientTitle, countClients, initialAccessState, matchesSearch, newlyAsking, reduceAccess, sortClients, type AccessState } from './access-state';

const T = (n: number) => `thumb${String(n).padStart(38, '0')}`;
function client(n: number, status: ConnectClient['status'], updatedAt: string, extra: Partial<ConnectClient> = {}): ConnectClient {
  return {
    clientProofKeyThumbprint: T(n),
    accountId: 'owner',
    deviceId: null,
    status,
    client: { label: `Device ${n}`, deviceType: 'desktop', os: 'Linux' },
    verificationCode: 'ABCD-EFGH',
    firstRequestedAt: updatedAt,
    requestedAt: updatedAt,
    requestCount: 1,
    updatedAt,
    approvedAt: status === 'approved' ? updatedAt : null,
    rejectedAt: status === 'rejected' ? updatedAt : null,
    lastSeenAt: null,
    name: null,
    approvalExpiresAt: null,
    approvalExpiredAt: null,
    approver: false,
    ...extra,
  };
}
const snapshot = (clients: ConnectClient[], mode: 'account' | 'client-approval' | null = 'client-approval'): AccessEvent => ({
  revision: 0,
  type: 'snapshot',
  payload: { connectSecurityMode: mode, connectSecurityModeError: mode ? null : 'The stored Connect security mode "x" is not a known mode.', connectClients: clients },
});
const apply = (state: AccessState, ...events: AccessEvent[]) => events.reduce((s, event) => reduceAccess(s, { type: 'event', event }), state);
const order = (state: AccessState) => state.clients.map((c) => c.client.label);

describe('reduceAccess', () => {
  it('the mode is unknown until the first snapshot, never account', () => {
    expect(initialAccessState.mode).toEqual({ kind: 'unknown' });
    expect(apply(initialAccessState, snapshot([], 'account')).mode).toEqual({ kind: 'known', mode: 'account' });
  });

  it('an unreadable mode in the snapshot is its own state, with the reason', () => {
    expect(apply(initialAccessState, snapshot([], null)).mode).toEqual({ kind: 'unreadable', error: expect.stringContaining('not a known mode') });
  });

  it('keeps pending first, then the most recently changed, as rows change live', () => {
    let state = apply(initialAccessState, snapshot([client(1, 'approved', '2026-01-01T00:00:01.000Z'), client(2, 'rejected', '2026-01-01T00:00:02.000Z')]));
    expect(order(state)).toEqual(['Device 2', 'Device 1']);
    state = apply(state, { revision: 1, type: 'connectClientUpserted', payload: client(3, 'pending', '2026-01-01T00:00:00.000Z') });
    expect(order(state)).toEqual(['Device 3', 'Device 2', 'Device 1']);
    state = apply(state, { revision: 2, type: 'connectClientUpserted', payload: client(1, 'approved', '2026-01-01T00:00:09.000Z') });
    expect(order(state)).toEqual(['Device 3', 'Device 1', 'Device 2']);
    state = apply(state, { revision: 3, type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: T(3) } });
    expect(order(state)).toEqual(['Device 1', 'Device 2']);
  });

  it('a mutation answer never steps back behind the stream, nor brings back a removed row', () => {
    const newer = client(1, 'rejected', '2026-01-01T00:00:05.000Z');
    const state = apply(initialAccessState, snapshot([newer]));
    expect(reduceAccess(state, { type: 'decided', client: client(1, 'approved', '2026-01-01T00:00:04.000Z') }).clients).toEqual([newer]);
    const seen = client(1, 'approved', '2026-01-01T00:00:05.000Z', { lastSeenAt: '2026-01-01T00:00:05.500Z' });
    const streamed = apply(initialAccessState, snapshot([seen]));
    expect(reduceAccess(streamed, { type: 'decided', client: client(1, 'approved', '2026-01-01T00:00:05.000Z') }).clients).toEqual([seen]);
    const pendingState = apply(initialAccessState, snapshot([client(1, 'pending', '2026-01-01T00:00:01.000Z')]));
    expect(reduceAccess(pendingState, { type: 'decided', client: newer }).clients).toEqual([newer]);
    const removed = reduceAccess(state, { type: 'removed', clientProofKeyThumbprint: T(1) });
    expect(reduceAccess(removed, { type: 'decided', client: client(1, 'approved', '2026-01-01T00:00:06.000Z') }).clients).toEqual([]);
  });
});

describe('newlyAsking', () => {
  it('announces a client that starts asking, once; a snapshot is not news', () => {
    const pending = new Set<string>();
    expect(newlyAsking(pending, snapshot([client(1, 'pending', '2026-01-01T00:00:00.000Z')]))).toEqual([]);
    const again = client(1, 'pending', '2026-01-01T00:00:03.000Z');
    expect(newlyAsking(pending, { revision: 1, type: 'connectClientUpserted', payload: again })).toEqual([]);
    const fresh = client(2, 'pending', '2026-01-01T00:00:04.000Z');
    expect(newlyAsking(pending, { revision: 2, type: 'connectClientUpserted', payload: fresh })).toEqual([fresh]);
    expect(newlyAsking(pending, { revision: 3, type: 'connectClientUpserted', payload: fresh })).toEqual([]);
    // Revoked, then asking again: news again.
    expect(newlyAsking(pending, { revision: 4, type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: T(2) } })).toEqual([]);
    expect(newlyAsking(pending, { revision: 5, type: 'connectClientUpserted', payload: fresh })).toEqual([fresh]);
  });
});

describe('clientTitle', () => {
  it('label, else OS, else the start of the thumbprint', () => {
    const c = client(1, 'pending', '2026-01-01T00:00:00.000Z');
    expect(clientTitle(c)).toBe('Device 1');
    expect(clientTitle({ ...c, client: { ...c.client, label: null } })).toBe('Linux');
    expect(clientTitle({ ...c, client: { ...c.client, label: null, os: null } })).toBe('Client thumb000');
  });
});

describe('stable order, search and counts (issue 17 items 1, 5)', () => {
  it('pending by first request whatever their latest ask; then newest decision', () => {
    const a = client(1, 'pending', '2026-01-01T00:00:05Z', { firstRequestedAt: '2026-01-01T00:00:01Z' });
    const b = client(2, 'pending', '2026-01-01T00:00:02Z', { firstRequestedAt: '2026-01-01T00:00:02Z' });
    const old = client(3, 'approved', '2026-01-01T00:00:09Z', { approvedAt: '2026-01-01T00:00:03Z' }); // seen later, decided earlier
    const recent = client(4, 'rejected', '2026-01-01T00:00:04Z');
    expect(sortClients([old, b, recent, a]).map((c) => c.clientProofKeyThumbprint)).toEqual([T(1), T(2), T(4), T(3)]);
    // A re-ask (newer requestedAt/updatedAt) moves nothing.
    const again = { ...b, requestedAt: '2026-01-01T00:01:00Z', updatedAt: '2026-01-01T00:01:00Z', requestCount: 2 };
    let state = reduceAccess(initialAccessState, { type: 'event', event: snapshot([a, b, old, recent]) });
    state = reduceAccess(state, { type: 'event', event: { revision: 1, type: 'connectClientUpserted', payload: again } });
    expect(state.clients.map((c) => c.clientProofKeyThumbprint)).toEqual([T(1), T(2), T(4), T(3)]);
    expect(countClients(state.clients)).toEqual({ pending: 2, approved: 1, rejected: 1 });
  });

  it('searches name, label, OS, code (with or without dash) and thumbprint prefix; the name wins the title', () => {
    const named = client(1, 'pending', '2026-01-01T00:00:00Z', { name: 'Kitchen iPad', verificationCode: 'K238-9NA2', client: { label: 'iPad', deviceType: 'tablet', os: 'iPadOS' } });
    expect(clientTitle(named)).toBe('Kitchen iPad');
    for (const q of ['kitchen', 'IPAD', 'ipados', 'k238-9na2', '2389N', T(1).slice(0, 10), '  ']) expect(matchesSearch(named, q), q).toBe(true);
    for (const q of ['laptop', 'zz', T(2).slice(0, 10).replace('thumb', 'xhumb')]) expect(matchesSearch(named, q), q).toBe(false);
  });
});

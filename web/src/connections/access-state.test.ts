import { describe, expect, it } from 'vitest';
import type { AccessEvent, ConnectClient } from '../trpc';
import type { ClientPage } from '../trpc';
import { clientTitle, initialAccessState, matchesSearch, newlyAsking, reduceAccess, sortClients, type AccessAction, type AccessState, type Counts } from './access-state';

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
const summary = (counts: Counts, mode: 'account' | 'client-approval' | null = 'client-approval'): AccessEvent => ({
  revision: 0,
  type: 'summary',
  payload: { connectSecurityMode: mode, connectSecurityModeError: mode ? null : 'The stored Connect security mode "x" is not a known mode.', counts },
});
const upserted = (c: ConnectClient, revision = 1): AccessEvent => ({ revision, type: 'connectClientUpserted', payload: c });
const removedEvent = (n: number, revision = 1): AccessEvent => ({ revision, type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: T(n) } });
const counted = (items: ConnectClient[]): Counts => ({ pending: items.filter((c) => c.status === 'pending').length, approved: items.filter((c) => c.status === 'approved').length, rejected: items.filter((c) => c.status === 'rejected').length });
const page = (items: ConnectClient[], nextCursor: string | null = null, counts: Counts = counted(items)): ClientPage => ({ items, nextCursor, counts });
const run = (state: AccessState, ...actions: AccessAction[]) => actions.reduce(reduceAccess, state);
const ev = (event: AccessEvent): AccessAction => ({ type: 'event', event });
/** The state after the first page arrived (generation 0, the page's initial load). */
const loaded = (items: ConnectClient[], nextCursor: string | null = null, counts?: Counts) => run(initialAccessState, ev(summary(counts ?? counted(items))), { type: 'page', generation: 0, page: page(items, nextCursor, counts), append: false });
const order = (state: AccessState) => state.list.rows.map((c) => c.client.label);

const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;

describe('reduceAccess: mode and counts from the summary', () => {
  it('the mode is unknown until the first summary, never account; counts come from it', () => {
    expect(initialAccessState.mode).toEqual({ kind: 'unknown' });
    const state = run(initialAccessState, ev(summary({ pending: 3, approved: 0, rejected: 72 }, 'account')));
    expect(state.mode).toEqual({ kind: 'known', mode: 'account' });
    expect(state.totals).toEqual({ pending: 3, approved: 0, rejected: 72 });
    expect(state.list.rows).toEqual([]);
  });

  it('an unreadable mode in the summary is its own state, with the reason', () => {
    expect(run(initialAccessState, ev(summary({ pending: 0, approved: 0, rejected: 0 }, null))).mode).toEqual({ kind: 'unreadable', error: expect.stringContaining('not a known mode') });
  });

  it('the totals are the server\'s, not the loaded rows\': 50 rows loaded of 75', () => {
    const rows = Array.from({ length: 50 }, (_, i) => client(i, 'rejected', at(59 - (i % 59))));
    const state = loaded(sortClients(rows), 'cursor', { pending: 3, approved: 0, rejected: 72 });
    expect(state.totals).toEqual({ pending: 3, approved: 0, rejected: 72 });
    expect(state.list.matching).toEqual({ pending: 3, approved: 0, rejected: 72 });
    expect(run(state, { type: 'totals', counts: { pending: 2, approved: 1, rejected: 72 } }).totals).toEqual({ pending: 2, approved: 1, rejected: 72 });
  });
});

describe('reduceAccess: the window of loaded rows', () => {
  it('keeps pending first, then the most recently decided, as rows change live', () => {
    let state = loaded([client(2, 'rejected', at(2)), client(1, 'approved', at(1))]);
    expect(order(state)).toEqual(['Device 2', 'Device 1']);
    state = run(state, ev(upserted(client(3, 'pending', at(0)))));
    expect(order(state)).toEqual(['Device 3', 'Device 2', 'Device 1']);
    state = run(state, ev(upserted(client(1, 'approved', at(9)), 2)));
    expect(order(state)).toEqual(['Device 3', 'Device 1', 'Device 2']);
    state = run(state, ev(removedEvent(3, 3)));
    expect(order(state)).toEqual(['Device 1', 'Device 2']);
  });

  it('a row whose place lies beyond the loaded pages is not shown until they are loaded; one before the boundary is', () => {
    // Loaded: pending 1, 2 (more pending after 2 on the server).
    let state = loaded([client(1, 'pending', at(1)), client(2, 'pending', at(2))], 'c1', { pending: 4, approved: 0, rejected: 0 });
    state = run(state, ev(upserted(client(5, 'pending', at(5)))));
    expect(order(state)).toEqual(['Device 1', 'Device 2']); // a newer ask belongs on a later page
    state = run(state, ev(upserted(client(1, 'approved', at(6)), 2)));
    expect(order(state)).toEqual(['Device 2']); // decided rows come after every pending one
    state = run(state, ev(upserted(client(0, 'pending', at(0)), 3)));
    expect(order(state)).toEqual(['Device 0', 'Device 2']); // an earlier first request is inside
    // The next page extends the window.
    state = run(state, { type: 'loading', kind: 'more' }, { type: 'page', generation: 1, page: page([client(5, 'pending', at(5)), client(1, 'approved', at(6))], null), append: true });
    expect(order(state)).toEqual(['Device 0', 'Device 2', 'Device 5', 'Device 1']);
    expect(state.list.boundary).toBeNull();
  });

  it('a row that stops matching the status filter or the search leaves; one that starts matching joins', () => {
    let state = run(initialAccessState, { type: 'query', query: { search: '', status: 'pending' } }, { type: 'page', generation: 1, page: page([client(1, 'pending', at(1))]), append: false });
    state = run(state, ev(upserted(client(1, 'approved', at(2)))));
    expect(order(state)).toEqual([]);
    state = run(state, { type: 'query', query: { search: 'kitchen', status: 'all' } }, { type: 'page', generation: 2, page: page([]), append: false });
    state = run(state, ev(upserted(client(4, 'pending', at(3), { name: 'Kitchen iPad' }), 2)), ev(upserted(client(5, 'pending', at(4)), 3)));
    expect(state.list.rows.map((c) => c.clientProofKeyThumbprint)).toEqual([T(4)]);
  });

  it('an answer for an older query is dropped; events during a load are applied again over its answer', () => {
    let state = run(initialAccessState, { type: 'query', query: { search: 'x', status: 'all' } });
    state = run(state, { type: 'page', generation: 0, page: page([client(9, 'pending', at(9))]), append: false });
    expect(state.list).toMatchObject({ loaded: false, rows: [] }); // the initial load's answer came after the query changed
    // While generation 1 loads: device 1 is approved, device 2 removed (the page was read before both).
    state = run(state, { type: 'query', query: { search: '', status: 'all' } });
    state = run(state, ev(upserted(client(1, 'approved', at(5)))), ev(removedEvent(2, 2)));
    state = run(state, { type: 'page', generation: 2, page: page([client(1, 'pending', at(1)), client(2, 'pending', at(2))]), append: false });
    expect(state.list.rows.map((c) => [c.clientProofKeyThumbprint, c.status])).toEqual([[T(1), 'approved']]);
    // A page read after an event keeps its newer copy.
    state = run(state, { type: 'loading', kind: 'reload' }, ev(upserted(client(1, 'approved', at(5)), 3)));
    state = run(state, { type: 'page', generation: 3, page: page([client(1, 'rejected', at(7))]), append: false });
    expect(state.list.rows.map((c) => c.status)).toEqual(['rejected']);
  });

  it('a reload keeps the rows shown until its answer replaces them', () => {
    let state = loaded([client(1, 'pending', at(1))]);
    state = run(state, { type: 'loading', kind: 'reload' });
    expect(order(state)).toEqual(['Device 1']);
    state = run(state, { type: 'page', generation: 1, page: page([client(2, 'pending', at(2))]), append: false });
    expect(order(state)).toEqual(['Device 2']);
  });

  it('a failed load says why and stops loading', () => {
    const state = run(initialAccessState, { type: 'pageFailed', generation: 0, error: 'boom' });
    expect(state.list).toMatchObject({ loading: null, error: 'boom' });
  });

  it('a mutation answer never steps back behind the stream, nor brings back a removed row', () => {
    const newer = client(1, 'rejected', at(5));
    const state = loaded([newer]);
    expect(reduceAccess(state, { type: 'decided', client: client(1, 'approved', at(4)) }).list.rows).toEqual([newer]);
    const seen = client(1, 'approved', at(5), { lastSeenAt: '2026-01-01T00:00:05.500Z' });
    expect(reduceAccess(loaded([seen]), { type: 'decided', client: client(1, 'approved', at(5)) }).list.rows).toEqual([seen]);
    expect(reduceAccess(loaded([client(1, 'pending', at(1))]), { type: 'decided', client: newer }).list.rows).toEqual([newer]);
    const removed = reduceAccess(state, { type: 'removed', clientProofKeyThumbprint: T(1) });
    expect(reduceAccess(removed, { type: 'decided', client: client(1, 'approved', at(6)) }).list.rows).toEqual([]);
  });

  it('pending by first request whatever their latest ask; a re-ask moves nothing', () => {
    const a = client(1, 'pending', '2026-01-01T00:00:05Z', { firstRequestedAt: '2026-01-01T00:00:01Z' });
    const b = client(2, 'pending', '2026-01-01T00:00:02Z', { firstRequestedAt: '2026-01-01T00:00:02Z' });
    const old = client(3, 'approved', '2026-01-01T00:00:09Z', { approvedAt: '2026-01-01T00:00:03Z' }); // seen later, decided earlier
    const recent = client(4, 'rejected', '2026-01-01T00:00:04Z');
    expect(sortClients([old, b, recent, a]).map((c) => c.clientProofKeyThumbprint)).toEqual([T(1), T(2), T(4), T(3)]);
    const again = { ...b, requestedAt: '2026-01-01T00:01:00Z', updatedAt: '2026-01-01T00:01:00Z', requestCount: 2 };
    const state = run(loaded(sortClients([a, b, old, recent])), ev(upserted(again)));
    expect(state.list.rows.map((c) => c.clientProofKeyThumbprint)).toEqual([T(1), T(2), T(4), T(3)]);
  });
});

describe('newlyAsking', () => {
  it('announces a first ask once; a device asking again is not news; revoked then asking again is', () => {
    const announced = new Set<string>();
    expect(newlyAsking(announced, summary({ pending: 1, approved: 0, rejected: 0 }))).toEqual([]);
    const again = client(1, 'pending', at(3), { requestCount: 4 });
    expect(newlyAsking(announced, upserted(again))).toEqual([]);
    const fresh = client(2, 'pending', at(4));
    expect(newlyAsking(announced, upserted(fresh, 2))).toEqual([fresh]);
    expect(newlyAsking(announced, upserted(fresh, 3))).toEqual([]);
    expect(newlyAsking(announced, removedEvent(2, 4))).toEqual([]);
    expect(newlyAsking(announced, upserted(fresh, 5))).toEqual([fresh]);
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

describe('search (issue 17 item 5)', () => {
  it('searches name, label, OS, code (with or without dash) and thumbprint prefix; the name wins the title', () => {
    const named = client(1, 'pending', '2026-01-01T00:00:00Z', { name: 'Kitchen iPad', verificationCode: 'K238-9NA2', client: { label: 'iPad', deviceType: 'tablet', os: 'iPadOS' } });
    expect(clientTitle(named)).toBe('Kitchen iPad');
    for (const q of ['kitchen', 'IPAD', 'ipados', 'k238-9na2', '2389N', T(1).slice(0, 10), '  ']) expect(matchesSearch(named, q), q).toBe(true);
    for (const q of ['laptop', 'zz', T(2).slice(0, 10).replace('thumb', 'xhumb')]) expect(matchesSearch(named, q), q).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { listAudit } from '../audit/audit.service';
import { clientSessions, connectCredentials } from '../db/schema';
import { createTestDeps, fakeThumbprint } from '../testing';
import { findActiveClient, listClients } from './clients.service';
import { requestClient } from './client-requests.service';
import { approveClient, rejectClient, revokeClient } from './client-decisions.service';
import { DROP_AUDIT_WINDOW_MS, PENDING_CAP, PENDING_TTL_MS } from './pending-bounds';
import { createClientSession } from './client-sessions.service';
import { verificationCodeOf } from './client-view';

const T = fakeThumbprint(1);
const ask = (deps: ReturnType<typeof createTestDeps>['deps'], over: Partial<Parameters<typeof requestClient>[1]> = {}) =>
  requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner', deviceId: 'dev-1', client: { label: 'Laptop', deviceType: 'desktop', os: 'Linux' }, ...over });

function setup() {
  const { deps, clock } = createTestDeps();
  const events: AccessEvent[] = [];
  deps.bus.subscribe((e) => events.push(e));
  return { deps, clock, events };
}

function giveSession(deps: ReturnType<typeof createTestDeps>['deps'], thumbprint = T) {
  deps.db.transaction((tx) => createClientSession(tx, deps.clock.now(), thumbprint, 'owner'));
}

describe('client state machine (SPEC §5.2)', () => {
  it('absent → request → pending with count 1, first = latest request, no decision timestamps', () => {
    const { deps, clock, events } = setup();
    const c = ask(deps);
    expect(c).toMatchObject({
      status: 'pending',
      requestCount: 1,
      accountId: 'owner',
      deviceId: 'dev-1',
      client: { label: 'Laptop', deviceType: 'desktop', os: 'Linux' },
      firstRequestedAt: new Date(clock.now()).toISOString(),
      requestedAt: new Date(clock.now()).toISOString(),
      approvedAt: null,
      rejectedAt: null,
      lastSeenAt: null,
    name: null,
    approvalExpiresAt: null,
    approvalExpiredAt: null,
    approver: false,
      verificationCode: verificationCodeOf(T),
    });
    expect(events.map((e) => e.type)).toEqual(['connectClientUpserted']);
    expect(c).not.toHaveProperty('revokedAt');
  });

  it('pending → request → pending: requested_at, count and metadata refreshed; first_requested_at kept', () => {
    const { deps, clock } = setup();
    const first = ask(deps);
    clock.advance(5000);
    const again = ask(deps, { client: { label: 'Work laptop', os: 'Linux 6' } });
    expect(again).toMatchObject({ status: 'pending', requestCount: 2, firstRequestedAt: first.firstRequestedAt, client: { label: 'Work laptop', os: 'Linux 6' } });
    expect(again.requestedAt).toBe(new Date(clock.now()).toISOString());
  });

  it.each(['approve', 'reject'] as const)('%s then request from the same account keeps the decision', (decision) => {
    const { deps, clock } = setup();
    ask(deps);
    (decision === 'approve' ? approveClient : rejectClient)(deps, T, 'web');
    clock.advance(1000);
    const c = ask(deps, { client: { label: 'Renamed' } });
    expect(c.status).toBe(decision === 'approve' ? 'approved' : 'rejected');
    expect(c.client.label).toBe('Renamed');
    expect(c.requestedAt).toBe(new Date(clock.now()).toISOString());
    expect(decision === 'approve' ? c.approvedAt : c.rejectedAt).not.toBeNull();
  });

  it.each(['pending', 'approved', 'rejected'] as const)('%s → request from a different account → pending with decision and seen cleared', (status) => {
    const { deps } = setup();
    ask(deps);
    if (status === 'approved') approveClient(deps, T, 'web');
    if (status === 'rejected') rejectClient(deps, T, 'web');
    if (status === 'approved') giveSession(deps);
    const c = ask(deps, { accountId: 'mallory' });
    expect(c).toMatchObject({ status: 'pending', accountId: 'mallory', approvedAt: null, rejectedAt: null, lastSeenAt: null, requestCount: 1 });
    const open = deps.db.select().from(clientSessions).all().filter((s) => s.endedAt === null);
    expect(open).toHaveLength(0);
  });

  it.each(['pending', 'approved', 'rejected'] as const)('%s → approve → approved with approved_at now and rejected_at cleared', (status) => {
    const { deps, clock } = setup();
    ask(deps);
    if (status === 'approved') approveClient(deps, T, 'web');
    if (status === 'rejected') rejectClient(deps, T, 'web');
    clock.advance(60_000);
    const { client, endedSessions } = approveClient(deps, T, 'cli');
    expect(client).toMatchObject({ status: 'approved', approvedAt: new Date(clock.now()).toISOString(), rejectedAt: null, requestCount: 0 });
    expect(endedSessions).toBe(0);
  });

  it('approve keeps last_seen_at only if the client was already approved', () => {
    const { deps, clock } = setup();
    ask(deps);
    approveClient(deps, T, 'web');
    deps.db.$client.prepare('UPDATE connect_clients SET last_seen_at = ?').run(new Date(clock.now()).toISOString());
    expect(approveClient(deps, T, 'web').client.lastSeenAt).toBe(new Date(clock.now()).toISOString());
    rejectClient(deps, T, 'web');
    expect(approveClient(deps, T, 'web').client.lastSeenAt).toBeNull();
  });

  it.each(['pending', 'approved', 'rejected'] as const)('%s → reject → rejected, approved_at and last_seen_at cleared, sessions end', (status) => {
    const { deps, clock } = setup();
    ask(deps);
    if (status === 'approved') {
      approveClient(deps, T, 'web');
      deps.db.$client.prepare('UPDATE connect_clients SET last_seen_at = ?').run(new Date(clock.now()).toISOString());
      giveSession(deps);
      giveSession(deps);
    }
    if (status === 'rejected') rejectClient(deps, T, 'web');
    const { client, endedSessions } = rejectClient(deps, T, 'web');
    expect(client).toMatchObject({ status: 'rejected', approvedAt: null, lastSeenAt: null, rejectedAt: new Date(clock.now()).toISOString() });
    expect(endedSessions).toBe(status === 'approved' ? 2 : 0);
  });

  it.each(['pending', 'approved', 'rejected'] as const)('%s → revoke → hidden everywhere; sessions and unredeemed credentials end', (status) => {
    const { deps, clock, events } = setup();
    ask(deps);
    if (status === 'approved') approveClient(deps, T, 'web');
    if (status === 'rejected') rejectClient(deps, T, 'web');
    giveSession(deps);
    deps.db.insert(connectCredentials).values({ credentialHash: 'h', clientProofKeyThumbprint: T, accountId: 'owner', securityMode: 'client-approval', issuedAt: clock.now(), expiresAt: clock.now() + 120_000 }).run();
    expect(revokeClient(deps, T, 'api')).toEqual({ revoked: true, endedSessions: 1 });
    expect(listClients(deps)).toEqual([]);
    expect(findActiveClient(deps.db, T)).toBeUndefined();
    expect(deps.db.select().from(connectCredentials).all()).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: T } });
    const row = deps.db.$client.prepare('SELECT status, approved_at, rejected_at, last_seen_at, revoked_at FROM connect_clients').get();
    expect(row).toMatchObject({ status: 'pending', approved_at: null, rejected_at: null, last_seen_at: null, revoked_at: new Date(clock.now()).toISOString() });
  });

  it('revoked → request → a fresh pending with every decision and seen timestamp cleared', () => {
    const { deps, clock } = setup();
    ask(deps);
    approveClient(deps, T, 'web');
    revokeClient(deps, T, 'web');
    clock.advance(10_000);
    const c = ask(deps);
    const now = new Date(clock.now()).toISOString();
    expect(c).toMatchObject({ status: 'pending', requestCount: 1, firstRequestedAt: now, requestedAt: now, approvedAt: null, rejectedAt: null, lastSeenAt: null });
  });

  it.each([
    ['approve', approveClient],
    ['reject', rejectClient],
    ['revoke', revokeClient],
  ] as const)('%s of an absent or revoked client → NOT_FOUND with the exact message', (_name, act) => {
    const { deps } = setup();
    expect(() => act(deps, T, 'web')).toThrow(`No active Connect client found for ${T}.`);
    ask(deps);
    revokeClient(deps, T, 'web');
    try {
      act(deps, T, 'web');
      expect.unreachable('acting on a revoked client must fail');
    } catch (error) {
      expect(error).toMatchObject({ kind: 'not_found', reason: 'not_found', message: `No active Connect client found for ${T}.` });
    }
  });

  it('records an audit entry with the actor for every decision', () => {
    const { deps } = setup();
    ask(deps);
    approveClient(deps, T, 'web');
    rejectClient(deps, T, 'cli');
    revokeClient(deps, T, 'api');
    const entries = listAudit(deps).filter((e) => e.actor !== 'system');
    expect(entries.map((e) => [e.actor, e.action, e.clientProofKeyThumbprint])).toEqual([
      ['api', 'client_revoked', T],
      ['cli', 'client_rejected', T],
      ['web', 'client_approved', T],
    ]);
  });

  it('lists pending first, then the most recently updated', () => {
    const { deps, clock } = setup();
    for (const n of [1, 2, 3]) {
      requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });
      clock.advance(1000);
    }
    approveClient(deps, fakeThumbprint(1), 'web');
    clock.advance(1000);
    rejectClient(deps, fakeThumbprint(3), 'web');
    expect(listClients(deps).map((c) => [c.clientProofKeyThumbprint, c.status])).toEqual([
      [fakeThumbprint(2), 'pending'],
      [fakeThumbprint(3), 'rejected'],
      [fakeThumbprint(1), 'approved'],
    ]);
  });
});

describe('flood control (SPEC §5.3)', () => {
  it(`keeps at most ${PENDING_CAP} pending clients, dropping the oldest with an audit entry`, () => {
    const { deps, clock, events } = setup();
    for (let n = 0; n < PENDING_CAP + 5; n++) {
      requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });
      clock.advance(10);
    }
    const pending = listClients(deps);
    expect(pending).toHaveLength(PENDING_CAP);
    expect(pending.map((c) => c.clientProofKeyThumbprint)).not.toContain(fakeThumbprint(0));
    expect(pending.map((c) => c.clientProofKeyThumbprint)).toContain(fakeThumbprint(PENDING_CAP + 4));
    // Never-decided rows are deleted, not kept as tombstones, and so are their request entries.
    expect(deps.db.$client.prepare('SELECT count(*) AS n FROM connect_clients').get()).toEqual({ n: PENDING_CAP });
    const audit = listAudit(deps, { limit: 500 });
    expect(audit.filter((e) => e.action === 'client_requested')).toHaveLength(PENDING_CAP);
    // The five drops share one entry: it counts them and names the first few.
    expect(audit.filter((e) => e.action === 'pending_evicted')).toEqual([
      expect.objectContaining({
        actor: 'system',
        clientProofKeyThumbprint: null,
        detail: { count: 5, sample: [fakeThumbprint(0), fakeThumbprint(1), fakeThumbprint(2)], lastAt: expect.any(String) },
      }),
    ]);
    expect(events.filter((e) => e.type === 'connectClientRemoved')).toHaveLength(5);
  });

  it('a dropped client with history (decided before) keeps a soft-deleted row; one drop names its thumbprint', () => {
    const { deps, clock } = setup();
    requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    approveClient(deps, T, 'web');
    requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'mallory' }); // pending again, decision cleared
    clock.advance(10);
    for (let n = 10; n < 10 + PENDING_CAP; n++) {
      requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });
      clock.advance(10);
    }
    expect(findActiveClient(deps.db, T)).toBeUndefined();
    expect(deps.db.$client.prepare('SELECT revoked_at FROM connect_clients WHERE client_proof_key_thumbprint = ?').get(T)).toEqual({ revoked_at: expect.any(String) });
    // Its history stays in the audit log, request entries included.
    expect(listAudit(deps, { limit: 500 }).filter((e) => e.clientProofKeyThumbprint === T).map((e) => e.action)).toEqual(['pending_evicted', 'client_account_changed', 'client_approved', 'client_requested']);
    // Asking again starts over as a fresh pending row.
    expect(requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' })).toMatchObject({ status: 'pending', requestCount: 1 });
  });

  it('drops later than a minute after the last aggregated entry start a new one', () => {
    const { deps, clock } = setup();
    for (let n = 0; n < PENDING_CAP + 2; n++) {
      requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });
      clock.advance(10);
    }
    clock.advance(DROP_AUDIT_WINDOW_MS);
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(1000), accountId: 'owner' });
    const entries = listAudit(deps, { limit: 500 }).filter((e) => e.action === 'pending_evicted');
    expect(entries.map((e) => ('count' in e.detail ? e.detail.count : null))).toEqual([1, 2]);
    expect(entries[0]?.clientProofKeyThumbprint).toBe(fakeThumbprint(2));
  });

  it('approved clients are not counted against the pending cap', () => {
    const { deps, clock } = setup();
    requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    approveClient(deps, T, 'web');
    for (let n = 10; n < PENDING_CAP + 20; n++) {
      requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });
      clock.advance(1);
    }
    expect(findActiveClient(deps.db, T)?.status).toBe('approved');
  });

  it('expires pending entries untouched for 24 h', () => {
    const { deps, clock } = setup();
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(1), accountId: 'owner' });
    clock.advance(PENDING_TTL_MS + 1);
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(2), accountId: 'owner' });
    expect(listClients(deps).map((c) => c.clientProofKeyThumbprint)).toEqual([fakeThumbprint(2)]);
    expect(deps.db.$client.prepare('SELECT count(*) AS n FROM connect_clients').get()).toEqual({ n: 1 });
    expect(listAudit(deps).find((e) => e.action === 'pending_expired')).toMatchObject({
      clientProofKeyThumbprint: fakeThumbprint(1),
      detail: { count: 1, sample: [fakeThumbprint(1)], lastAt: new Date(clock.now()).toISOString() },
    });
  });

  it('repeated requests from one pending client emit at most one event per second', () => {
    const { deps, clock, events } = setup();
    ask(deps);
    for (let i = 0; i < 20; i++) {
      clock.advance(100);
      ask(deps);
    }
    // 2,000 ms of asking: the first request, then one event per elapsed second.
    expect(events.filter((e) => e.type === 'connectClientUpserted')).toHaveLength(3);
    expect(findActiveClient(deps.db, T)?.requestCount).toBe(21);
  });
});

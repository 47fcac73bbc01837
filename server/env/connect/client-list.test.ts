import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import type { AccessEvent, ClientPage, ConnectClient } from '../../../shared/contracts';
import { listAudit } from '../audit/audit.service';
import { createTestDeps, fakeThumbprint, ownerContext } from '../testing';
import { envRouter } from '../trpc/app-router';
import { approveClient, rejectClient, revokeClient } from './client-decisions.service';
import { approveConnectedDevices, clientDetails, listClientsPage, listConnectedDevices } from './client-list';
import { setSecurityMode } from './security-mode.service';
import { requestClient } from './client-requests.service';
import { createClientSession } from './client-sessions.service';
import { verificationCodeOf } from './client-view';
import { endClientSessions, findActiveClient, listClients, renameClient } from './clients.service';

type Deps = ReturnType<typeof createTestDeps>['deps'];

function setup() {
  const { deps, clock } = createTestDeps();
  const events: AccessEvent[] = [];
  deps.bus.subscribe((e) => events.push(e));
  return { deps, clock, events };
}

const ask = (deps: Deps, n: number, client: { label?: string; os?: string } = {}) =>
  requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner', client: { label: `Device ${n}`, ...client } });

const thumbs = (page: ClientPage | ConnectClient[]) => (Array.isArray(page) ? page : page.items).map((c) => c.clientProofKeyThumbprint);

function allPages(deps: Deps, input: { limit?: number; status?: 'pending' | 'approved' | 'rejected'; search?: string } = {}): ConnectClient[] {
  const out: ConnectClient[] = [];
  let cursor: string | undefined;
  do {
    const page = listClientsPage(deps, { ...input, ...(cursor && { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

/** `count` active rows straight into the table (the pending cap would evict requested ones). */
function seed(deps: Deps, count: number): void {
  const insert = deps.db.$client.prepare(
    `INSERT INTO connect_clients (client_proof_key_thumbprint, account_id, status, label, os, device_type, first_requested_at, requested_at,
       request_count, updated_at, approved_at, rejected_at) VALUES (?, 'owner', ?, ?, ?, 'desktop', ?, ?, 1, ?, ?, ?)`,
  );
  const base = Date.parse('2026-01-01T00:00:00Z');
  deps.db.$client.transaction(() => {
    for (let i = 0; i < count; i++) {
      const at = new Date(base + i * 1000).toISOString();
      const status = i % 7 === 0 ? 'pending' : i % 3 === 0 ? 'rejected' : 'approved';
      insert.run(fakeThumbprint(i), status, `Laptop ${i}`, i % 2 ? 'macOS 15' : 'Linux', at, at, at, status === 'approved' ? at : null, status === 'rejected' ? at : null);
    }
  })();
}

describe('paged client list (SPEC §13)', () => {
  it('no input is the first page: pending by first request, then newest decision, with counts', () => {
    const { deps, clock } = setup();
    for (const n of [1, 2, 3, 4]) {
      ask(deps, n);
      clock.advance(1000);
    }
    approveClient(deps, fakeThumbprint(3), 'web');
    clock.advance(1000);
    rejectClient(deps, fakeThumbprint(1), 'web');
    const page = listClientsPage(deps);
    expect(thumbs(page)).toEqual([fakeThumbprint(2), fakeThumbprint(4), fakeThumbprint(1), fakeThumbprint(3)]);
    expect(page.nextCursor).toBeNull();
    expect(page.counts).toEqual({ pending: 2, approved: 1, rejected: 1 });
    // The unpaged list (snapshots, the offline CLI) keeps the same order.
    expect(thumbs(listClients(deps))).toEqual(thumbs(page));
  });

  it('a pending device that asks again keeps its place', () => {
    const { deps, clock } = setup();
    for (const n of [1, 2, 3]) {
      ask(deps, n);
      clock.advance(1000);
    }
    const before = thumbs(listClientsPage(deps));
    for (let round = 0; round < 5; round++) {
      for (const n of [3, 1, 2]) {
        clock.advance(25_000);
        ask(deps, n);
      }
      expect(thumbs(listClientsPage(deps))).toEqual(before);
    }
    expect(findActiveClient(deps.db, fakeThumbprint(1))?.requestCount).toBe(6);
  });

  it('pages through 10,000 rows without gaps or repeats, in the unpaged order, at most 500 a page', () => {
    const { deps } = setup();
    seed(deps, 10_000);
    const paged = allPages(deps, { limit: 500 });
    expect(paged).toHaveLength(10_000);
    expect(new Set(thumbs(paged)).size).toBe(10_000);
    expect(thumbs(paged)).toEqual(thumbs(listClients(deps)));
    const firstDecided = paged.findIndex((c) => c.status !== 'pending');
    expect(paged.slice(firstDecided).every((c) => c.status !== 'pending')).toBe(true);
    expect(listClientsPage(deps).items).toHaveLength(100);
    expect(listClientsPage(deps).counts).toEqual({ pending: 1429, approved: 5714, rejected: 2857 });
  });

  it('pages of one stay correct across the pending/decided boundary', () => {
    const { deps } = setup();
    seed(deps, 30);
    expect(thumbs(allPages(deps, { limit: 1 }))).toEqual(thumbs(listClients(deps)));
    expect(thumbs(allPages(deps, { limit: 7, status: 'approved' }))).toEqual(thumbs(listClients(deps).filter((c) => c.status === 'approved')));
  });

  it('uses the order indexes, never a temporary sort over the table', () => {
    const { deps } = setup();
    seed(deps, 200);
    const plan = (query: string) => (deps.db.$client.prepare(`EXPLAIN QUERY PLAN ${query}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('\n');
    const pending = plan(
      `SELECT * FROM connect_clients WHERE status = 'pending' AND revoked_at IS NULL ORDER BY first_requested_at, client_proof_key_thumbprint LIMIT 101`,
    );
    expect(pending).toContain('connect_clients_pending_order_idx');
    expect(pending).not.toContain('TEMP B-TREE');
    const decided = plan(
      `SELECT * FROM connect_clients WHERE revoked_at IS NULL AND status <> 'pending' ORDER BY coalesce("connect_clients"."approved_at", "connect_clients"."rejected_at") DESC, client_proof_key_thumbprint DESC LIMIT 101`,
    );
    expect(decided).toContain('connect_clients_decided_order_idx');
    expect(decided).not.toContain('TEMP B-TREE');
  });

  it('filters by status; counts ignore the status filter but follow the search', () => {
    const { deps } = setup();
    seed(deps, 70);
    const approved = allPages(deps, { status: 'approved', limit: 10 });
    expect(approved.length).toBeGreaterThan(0);
    expect(approved.every((c) => c.status === 'approved')).toBe(true);
    expect(allPages(deps, { status: 'pending' }).every((c) => c.status === 'pending')).toBe(true);
    expect(listClientsPage(deps, { status: 'rejected' }).counts).toEqual(listClientsPage(deps).counts);
    expect(listClientsPage(deps, { search: 'laptop 6' }).counts).toEqual({ pending: 1, approved: 6, rejected: 4 }); // 6 and 60–69: 63 pending; 6, 60, 66, 69 rejected
  });

  it('searches label, owner-set name, OS, verification code and thumbprint prefix', () => {
    const { deps, clock } = setup();
    ask(deps, 1, { label: 'Kitchen iPad', os: 'iPadOS 18' });
    clock.advance(1000);
    ask(deps, 2, { label: 'Work laptop', os: 'Windows 11' });
    clock.advance(1000);
    ask(deps, 3, { label: '100%_done', os: 'Linux' });
    renameClient(deps, fakeThumbprint(2), 'Build box', 'web');
    const find = (search: string) => thumbs(listClientsPage(deps, { search }));
    expect(find('kitchen')).toEqual([fakeThumbprint(1)]);
    expect(find('IPADOS')).toEqual([fakeThumbprint(1)]);
    expect(find('build')).toEqual([fakeThumbprint(2)]);
    expect(find('laptop')).toEqual([fakeThumbprint(2)]); // the client's own label still matches
    const code = verificationCodeOf(fakeThumbprint(3));
    expect(find(code)).toContain(fakeThumbprint(3));
    expect(find(code.replace('-', '').toLowerCase())).toContain(fakeThumbprint(3));
    expect(find(fakeThumbprint(2).slice(0, 12))).toEqual([fakeThumbprint(2)]);
    // LIKE wildcards are text, not patterns.
    expect(find('%')).toEqual([fakeThumbprint(3)]);
    expect(find('0%_')).toEqual([fakeThumbprint(3)]);
    expect(find('   ')).toEqual(thumbs(listClientsPage(deps)));
    expect(find('nothing-like-this')).toEqual([]);
  });

  it('revoked rows are not listed or counted', () => {
    const { deps } = setup();
    ask(deps, 1);
    ask(deps, 2);
    revokeClient(deps, fakeThumbprint(1), 'web');
    expect(listClientsPage(deps)).toMatchObject({ items: [{ clientProofKeyThumbprint: fakeThumbprint(2) }], counts: { pending: 1, approved: 0, rejected: 0 } });
  });
});

describe('bad list input → clean BAD_REQUEST', () => {
  const listVia = async (input: unknown) => {
    const { deps } = setup();
    seed(deps, 5);
    try {
      await envRouter.createCaller(ownerContext(deps)).connect.clients.list(input as never);
      return 'OK';
    } catch (error) {
      expect(error).toBeInstanceOf(TRPCError);
      return (error as TRPCError).code;
    }
  };
  it.each([
    ['limit 0', { limit: 0 }],
    ['limit 501', { limit: 501 }],
    ['limit 1.5', { limit: 1.5 }],
    ['unknown status', { status: 'revoked' }],
    ['search too long', { search: 'x'.repeat(101) }],
    ['cursor not base64url', { cursor: '!!!' }],
    ['cursor not JSON', { cursor: Buffer.from('nope').toString('base64url') }],
    ['cursor of the wrong shape', { cursor: Buffer.from(JSON.stringify({ s: 'x', k: 1 })).toString('base64url') }],
    ['cursor with extra keys', { cursor: Buffer.from(JSON.stringify({ s: 'p', k: 'a', t: 'b', x: 1 })).toString('base64url') }],
    ['decided cursor with status pending', { status: 'pending', cursor: Buffer.from(JSON.stringify({ s: 'd', k: 'a', t: 'b' })).toString('base64url') }],
  ])('%s', async (_name, input) => {
    expect(await listVia(input)).toBe('BAD_REQUEST');
  });
  it('limits 1 and 500 are fine', async () => {
    expect(await listVia({ limit: 1 })).toBe('OK');
    expect(await listVia({ limit: 500 })).toBe('OK');
  });
});

describe('rename (issue 17 item 7)', () => {
  it('sets, normalizes and clears the owner-set name, audited and announced; the label stays', () => {
    const { deps, events } = setup();
    ask(deps, 1, { label: 'iPad' });
    const renamed = renameClient(deps, fakeThumbprint(1), '  Kitchen\u202E iPad  ', 'web');
    expect(renamed).toMatchObject({ name: 'Kitchen iPad', client: { label: 'iPad' } });
    expect(events.at(-1)).toMatchObject({ type: 'connectClientUpserted', payload: { name: 'Kitchen iPad' } });
    expect(renameClient(deps, fakeThumbprint(1), '\u200B', 'cli').name).toBeNull();
    expect(renameClient(deps, fakeThumbprint(1), null, 'cli').name).toBeNull(); // no change: no entry
    expect(listAudit(deps, { clientProofKeyThumbprint: fakeThumbprint(1) }).filter((e) => e.action === 'client_renamed')).toEqual([
      expect.objectContaining({ actor: 'cli', detail: { from: 'Kitchen iPad', to: null } }),
      expect.objectContaining({ actor: 'web', detail: { from: null, to: 'Kitchen iPad' } }),
    ]);
  });

  it('a name longer than a label is cut to the label length; an unknown device is NOT_FOUND', async () => {
    const { deps } = setup();
    ask(deps, 1);
    expect(renameClient(deps, fakeThumbprint(1), 'n'.repeat(200), 'web').name).toHaveLength(80);
    expect(() => renameClient(deps, fakeThumbprint(9), 'x', 'web')).toThrow(/No active Connect client/);
    const caller = envRouter.createCaller(ownerContext(deps));
    await expect(caller.connect.clients.rename({ clientProofKeyThumbprint: fakeThumbprint(1), name: 'n'.repeat(321) })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(caller.connect.clients.rename({ clientProofKeyThumbprint: 'short', name: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(caller.connect.clients.rename({ clientProofKeyThumbprint: fakeThumbprint(8), name: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('devices holding sessions, and ending them (issue 17 item 6)', () => {
  const giveSession = (deps: Deps, n: number) => deps.db.transaction((tx) => createClientSession(tx, deps.clock.now(), fakeThumbprint(n), 'owner'));

  it('lists devices with live sessions in either mode, rows or not, newest use first', () => {
    const { deps, clock } = setup();
    giveSession(deps, 1); // account mode: no row
    clock.advance(1000);
    ask(deps, 2);
    approveClient(deps, fakeThumbprint(2), 'web');
    giveSession(deps, 2);
    giveSession(deps, 2);
    expect(listConnectedDevices(deps)).toEqual([
      expect.objectContaining({ clientProofKeyThumbprint: fakeThumbprint(2), openSessions: 2, client: expect.objectContaining({ status: 'approved' }) }),
      expect.objectContaining({ clientProofKeyThumbprint: fakeThumbprint(1), openSessions: 1, client: null, verificationCode: verificationCodeOf(fakeThumbprint(1)) }),
    ]);
    clock.advance(2 * 60 * 60 * 1000); // sessions expire after an hour
    expect(listConnectedDevices(deps)).toEqual([]);
  });

  it('endSessions ends them, audits once, signals the client; nothing to end writes nothing', () => {
    const { deps } = setup();
    const signals: string[] = [];
    deps.bus.onClientSignal((s) => signals.push(`${s.kind}:${s.clientProofKeyThumbprint}`));
    giveSession(deps, 1);
    giveSession(deps, 1);
    expect(endClientSessions(deps, fakeThumbprint(1), 'web')).toEqual({ endedSessions: 2 });
    expect(listConnectedDevices(deps)).toEqual([]);
    expect(signals).toEqual([`sessions-ended:${fakeThumbprint(1)}`]);
    expect(endClientSessions(deps, fakeThumbprint(1), 'web')).toEqual({ endedSessions: 0 });
    expect(listAudit(deps).filter((e) => e.action === 'client_sessions_ended')).toEqual([
      expect.objectContaining({ actor: 'web', clientProofKeyThumbprint: fakeThumbprint(1), detail: { endedSessions: 2 } }),
    ]);
  });

  it('details: sessions open, the address the relay saw, software', () => {
    const { deps } = setup();
    ask(deps, 1);
    approveClient(deps, fakeThumbprint(1), 'web');
    giveSession(deps, 1);
    deps.db.$client.prepare(`UPDATE connect_clients SET last_source = '203.0.113.9' WHERE client_proof_key_thumbprint = ?`).run(fakeThumbprint(1));
    expect(clientDetails(deps, fakeThumbprint(1))).toMatchObject({ openSessions: 1, lastSource: '203.0.113.9', software: null, client: { status: 'approved' } });
    expect(() => clientDetails(deps, fakeThumbprint(2))).toThrow(/No active Connect client/);
  });
});

describe('audit filters (issue 17 item 9)', () => {
  it('by device, by actor, and pages back with before', () => {
    const { deps } = setup();
    ask(deps, 1);
    ask(deps, 2);
    approveClient(deps, fakeThumbprint(1), 'cli');
    rejectClient(deps, fakeThumbprint(2), 'web');
    renameClient(deps, fakeThumbprint(1), 'One', 'web');
    const mine = listAudit(deps, { clientProofKeyThumbprint: fakeThumbprint(1) });
    expect(mine.map((e) => e.action)).toEqual(['client_renamed', 'client_approved', 'client_requested']);
    expect(listAudit(deps, { actor: 'web' }).map((e) => e.action)).toEqual(['client_renamed', 'client_rejected']);
    expect(listAudit(deps, { actor: 'web', clientProofKeyThumbprint: fakeThumbprint(2) }).map((e) => e.action)).toEqual(['client_rejected']);
    const older = listAudit(deps, { clientProofKeyThumbprint: fakeThumbprint(1), before: mine[0]!.id, limit: 1 });
    expect(older.map((e) => e.action)).toEqual(['client_approved']);
  });

  it('bad filters → BAD_REQUEST', async () => {
    const { deps } = setup();
    const caller = envRouter.createCaller(ownerContext(deps));
    await expect(caller.connect.audit.list({ actor: 'root' as never })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(caller.connect.audit.list({ clientProofKeyThumbprint: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('approving connected devices before requiring approval (issue 17 item 3)', () => {
  const giveSession = (deps: Deps, n: number) => deps.db.transaction((tx) => createClientSession(tx, deps.clock.now(), fakeThumbprint(n), 'owner'));

  it('approves a device with no row (account mode) and one pending; the mode switch then ends only the others', () => {
    const { deps, events } = setup();
    giveSession(deps, 1);
    giveSession(deps, 2);
    giveSession(deps, 3);
    ask(deps, 3);
    expect(approveConnectedDevices(deps, [fakeThumbprint(1), fakeThumbprint(3), fakeThumbprint(1), fakeThumbprint(9)], 'web')).toEqual({ approved: 2 });
    expect(findActiveClient(deps.db, fakeThumbprint(1))).toMatchObject({ status: 'approved', accountId: 'owner', label: null });
    expect(findActiveClient(deps.db, fakeThumbprint(3))?.status).toBe('approved');
    expect(findActiveClient(deps.db, fakeThumbprint(9))).toBeUndefined(); // no session: nothing to keep
    expect(events.filter((e) => e.type === 'connectClientUpserted' && e.payload.status === 'approved')).toHaveLength(2);
    expect(setSecurityMode(deps, 'client-approval', 'web').endedSessions).toBe(1);
    expect(listConnectedDevices(deps).map((d) => d.clientProofKeyThumbprint).sort()).toEqual([fakeThumbprint(1), fakeThumbprint(3)].sort());
    expect(approveConnectedDevices(deps, [fakeThumbprint(1)], 'web')).toEqual({ approved: 0 }); // already approved
  });

  it('rejects an empty or oversized list', async () => {
    const { deps } = setup();
    const caller = envRouter.createCaller(ownerContext(deps));
    await expect(caller.connect.clients.approveConnected({ clientProofKeyThumbprints: [] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(caller.connect.clients.approveConnected({ clientProofKeyThumbprints: Array.from({ length: 501 }, (_, i) => fakeThumbprint(i)) })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('counts and "Reject all pending" for a page that holds only some rows (issue 17 item 5)', () => {
  it('connect.clients.counts: per status, following the search; a too long search is BAD_REQUEST', async () => {
    const { deps } = setup();
    seed(deps, 70);
    const caller = envRouter.createCaller(ownerContext(deps));
    expect(await caller.connect.clients.counts()).toEqual(listClientsPage(deps, { limit: 1 }).counts);
    expect(await caller.connect.clients.counts({ search: 'Laptop 6' })).toEqual(listClientsPage(deps, { limit: 1, search: 'Laptop 6' }).counts);
    await expect(caller.connect.clients.counts({ search: 'x'.repeat(101) })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('rejects every pending device, not only a first page, each audited and announced; decided rows stay', async () => {
    const { deps, events } = setup();
    seed(deps, 1400); // 200 pending, far more than a page
    const before = listClientsPage(deps, { limit: 1 }).counts;
    expect(before.pending).toBe(200);
    const result = await envRouter.createCaller(ownerContext(deps)).connect.clients.rejectAllPending();
    expect(result).toEqual({ rejected: 200, endedSessions: 0 });
    expect(listClientsPage(deps, { limit: 1 }).counts).toEqual({ pending: 0, approved: before.approved, rejected: before.rejected + 200 });
    expect(events.filter((e) => e.type === 'connectClientUpserted' && e.payload.status === 'rejected')).toHaveLength(200);
    expect(listAudit(deps, { limit: 500 }).filter((e) => e.action === 'client_rejected')).toHaveLength(200);
  });

  it('nothing pending → zero', async () => {
    const { deps } = setup();
    expect(await envRouter.createCaller(ownerContext(deps)).connect.clients.rejectAllPending()).toEqual({ rejected: 0, endedSessions: 0 });
  });
});

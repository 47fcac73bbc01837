// The paged client list (SPEC §13 "Paged client list"), the devices holding sessions now, and one
// device's details. Pending rows come first by first request (oldest first), so a device that asks
// again never moves; then decided rows by newest decision. Keyset paging on indexed columns: a page
// costs the same at 10,000 rows as at 10.
import { and, asc, desc, eq, gt, isNull, ne, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { AuditActor, ClientCounts, ClientDetails, ClientListInput, ClientPage, ClientStatus, ConnectedDevice } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import type { EnvDb } from '../db/database';
import { clientSessions, connectClients } from '../db/schema';
import type { EnvDeps } from '../deps';
import { toConnectClient, verificationCodeOf } from './client-view';
import { recordAudit } from '../audit/audit.service';
import { approveClient, rejectClient } from './client-decisions.service';
import { findActiveClient, findClientRow, notFound } from './clients.service';

export const CLIENT_PAGE_DEFAULT = 100;

/** When a decided row was decided: exactly one of the two is set (CHECK connect_clients_one_decision). */
const decidedAt = sql<string>`coalesce(${connectClients.approvedAt}, ${connectClients.rejectedAt})`;

/** The cursor: which segment, the last row's sort key and its thumbprint (the tie-break). */
const Cursor = z.strictObject({ s: z.enum(['p', 'd']), k: z.string().max(64), t: z.string().max(64) });
type Cursor = z.infer<typeof Cursor>;

const badCursor = () => new DomainError('bad_request', 'invalid_input', 'The cursor is not one this list returned; start again without a cursor.');

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

function decodeCursor(text: string): Cursor {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw badCursor();
  try {
    const parsed = Cursor.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    if (!parsed.success) throw badCursor();
    return parsed.data;
  } catch {
    throw badCursor();
  }
}

const registered = new WeakSet<object>();
/** The verification code is derived from the thumbprint, not stored: SQLite asks this function (cached in client-view). */
function withCodeFunction(db: EnvDb): void {
  if (registered.has(db.$client)) return;
  db.$client.function('gatehouse_verification_code', { deterministic: true }, (t: unknown) => (typeof t === 'string' ? verificationCodeOf(t).replace('-', '') : null));
  registered.add(db.$client);
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Label, owner-set name, OS (substring, any case), verification code (with or without its dash) or thumbprint prefix. */
function searchCondition(db: EnvDb, search: string | undefined): SQL | undefined {
  const q = search?.trim();
  if (!q) return undefined;
  const like = `%${escapeLike(q.toLowerCase())}%`;
  const parts: SQL[] = [
    sql`lower(${connectClients.label}) LIKE ${like} ESCAPE '\\'`,
    sql`lower(${connectClients.name}) LIKE ${like} ESCAPE '\\'`,
    sql`lower(${connectClients.os}) LIKE ${like} ESCAPE '\\'`,
    sql`substr(${connectClients.clientProofKeyThumbprint}, 1, ${q.length}) = ${q}`,
  ];
  const code = q.toUpperCase().replace(/[\s-]/g, '');
  if (/^[A-Z0-9]{2,8}$/.test(code)) {
    withCodeFunction(db);
    parts.push(sql`instr(gatehouse_verification_code(${connectClients.clientProofKeyThumbprint}), ${code}) > 0`);
  }
  return or(...parts);
}

export function countClients(db: EnvDb, search?: string): ClientCounts {
  const rows = db
    .select({ status: connectClients.status, n: sql<number>`count(*)` })
    .from(connectClients)
    .where(and(isNull(connectClients.revokedAt), searchCondition(db, search)))
    .groupBy(connectClients.status)
    .all();
  const counts: ClientCounts = { pending: 0, approved: 0, rejected: 0 };
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

function pendingPage(db: EnvDb, search: SQL | undefined, after: Cursor | null, limit: number) {
  const key = after?.s === 'p' ? or(gt(connectClients.firstRequestedAt, after.k), and(eq(connectClients.firstRequestedAt, after.k), gt(connectClients.clientProofKeyThumbprint, after.t))) : undefined;
  return db
    .select()
    .from(connectClients)
    .where(and(eq(connectClients.status, 'pending'), isNull(connectClients.revokedAt), search, key))
    .orderBy(asc(connectClients.firstRequestedAt), asc(connectClients.clientProofKeyThumbprint))
    .limit(limit)
    .all();
}

function decidedPage(db: EnvDb, status: ClientStatus | undefined, search: SQL | undefined, after: Cursor | null, limit: number) {
  const key = after?.s === 'd' ? or(sql`${decidedAt} < ${after.k}`, and(sql`${decidedAt} = ${after.k}`, sql`${connectClients.clientProofKeyThumbprint} < ${after.t}`)) : undefined;
  return db
    .select()
    .from(connectClients)
    .where(and(isNull(connectClients.revokedAt), status ? eq(connectClients.status, status) : ne(connectClients.status, 'pending'), search, key))
    .orderBy(desc(decidedAt), desc(connectClients.clientProofKeyThumbprint))
    .limit(limit)
    .all();
}

/** One page of active clients (SPEC §13). `counts` cover the search but not the status filter, so filter chips can show them. */
export function listClientsPage(deps: Pick<EnvDeps, 'db'>, input: ClientListInput = {}): ClientPage {
  const { db } = deps;
  const limit = input?.limit ?? CLIENT_PAGE_DEFAULT;
  const status = input?.status;
  const cursor = input?.cursor ? decodeCursor(input.cursor) : null;
  if (cursor && ((status === 'pending' && cursor.s === 'd') || ((status === 'approved' || status === 'rejected') && cursor.s === 'p'))) throw badCursor();
  const search = searchCondition(db, input?.search);
  // One more than asked: whether another page exists, without a count.
  const rows = [];
  if ((status === undefined || status === 'pending') && cursor?.s !== 'd') rows.push(...pendingPage(db, search, cursor, limit + 1));
  if (status !== 'pending' && rows.length <= limit) rows.push(...decidedPage(db, status, search, cursor?.s === 'd' ? cursor : null, limit + 1 - rows.length));
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextCursor =
    rows.length > limit && last
      ? encodeCursor(last.status === 'pending' ? { s: 'p', k: last.firstRequestedAt, t: last.clientProofKeyThumbprint } : { s: 'd', k: (last.approvedAt ?? last.rejectedAt)!, t: last.clientProofKeyThumbprint })
      : null;
  return { items: items.map(toConnectClient), nextCursor, counts: countClients(db, input?.search) };
}

/** Every page in order: for callers that show the whole list (CLI). */
export function* allClientPages(next: (cursor: string | undefined) => ClientPage): Generator<ClientPage> {
  let cursor: string | undefined;
  do {
    const page = next(cursor);
    yield page;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

function liveSessions(db: EnvDb, now: number, thumbprint?: string) {
  return db
    .select({ thumbprint: clientSessions.clientProofKeyThumbprint, n: sql<number>`count(*)`, lastStartedAt: sql<number>`max(${clientSessions.createdAt})` })
    .from(clientSessions)
    .where(and(isNull(clientSessions.endedAt), gt(clientSessions.expiresAt, now), thumbprint ? eq(clientSessions.clientProofKeyThumbprint, thumbprint) : undefined))
    .groupBy(clientSessions.clientProofKeyThumbprint)
    .all();
}

/** Devices that hold live sessions now, in either mode, most recently used first (issue 17 item 6). */
export function listConnectedDevices(deps: Pick<EnvDeps, 'db' | 'clock'>): ConnectedDevice[] {
  const now = deps.clock.now();
  return liveSessions(deps.db, now)
    .map((s) => {
      const row = findActiveClient(deps.db, s.thumbprint);
      const started = isoTime(s.lastStartedAt);
      const lastUsedAt = row?.lastSeenAt && row.lastSeenAt > started ? row.lastSeenAt : started;
      return { clientProofKeyThumbprint: s.thumbprint, verificationCode: verificationCodeOf(s.thumbprint), openSessions: s.n, lastUsedAt, client: row ? toConnectClient(row) : null };
    })
    .sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt) || a.clientProofKeyThumbprint.localeCompare(b.clientProofKeyThumbprint));
}

export function clientDetails(deps: Pick<EnvDeps, 'db' | 'clock'>, thumbprint: string): ClientDetails {
  const row = findActiveClient(deps.db, thumbprint);
  if (!row) throw notFound(thumbprint);
  const [sessions] = liveSessions(deps.db, deps.clock.now(), thumbprint);
  return { client: toConnectClient(row), openSessions: sessions?.n ?? 0, lastSource: row.lastSource, software: row.software };
}

/**
 * Approves devices that hold sessions now, before approval is required (issue 17 item 3): one with
 * a row is approved as usual; one that connected in account mode (no row) gets an approved row for
 * the account its session is for. Returns how many were approved.
 */
export function approveConnectedDevices(deps: EnvDeps, thumbprints: string[], actor: AuditActor): { approved: number } {
  let approved = 0;
  for (const thumbprint of new Set(thumbprints)) {
    const row = findActiveClient(deps.db, thumbprint);
    if (row) {
      if (row.status !== 'approved') {
        approveClient(deps, thumbprint, actor);
        approved++;
      }
      continue;
    }
    const now = deps.clock.now();
    const at = isoTime(now);
    const inserted = deps.db.transaction(
      (tx) => {
        const session = tx
          .select({ accountId: clientSessions.accountId })
          .from(clientSessions)
          .where(and(eq(clientSessions.clientProofKeyThumbprint, thumbprint), isNull(clientSessions.endedAt), gt(clientSessions.expiresAt, now)))
          .get();
        if (!session || findClientRow(deps.db, thumbprint)?.revokedAt === null) return null;
        const values = {
          accountId: session.accountId, deviceId: null, status: 'approved' as const, label: null, os: null, deviceType: 'unknown' as const,
          firstRequestedAt: at, requestedAt: at, requestCount: 0, updatedAt: at, approvedAt: at, rejectedAt: null, revokedAt: null, lastSeenAt: null,
          approvalExpiresAt: null, approver: false,
        };
        const row = tx
          .insert(connectClients)
          .values({ clientProofKeyThumbprint: thumbprint, ...values })
          .onConflictDoUpdate({ target: connectClients.clientProofKeyThumbprint, set: { ...values, version: sql`${connectClients.version} + 1` } })
          .returning()
          .get();
        recordAudit(deps.db, now, { actor, action: 'client_approved', clientProofKeyThumbprint: thumbprint, detail: { was: 'pending', endedSessions: 0 } });
        return row;
      },
      { behavior: 'immediate' },
    );
    if (!inserted) continue;
    deps.bus.publish({ type: 'connectClientUpserted', payload: toConnectClient(inserted) });
    deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'decided' });
    approved++;
  }
  return { approved };
}

class NoLongerPending extends Error {}

/**
 * "Reject all pending" (issue 17 item 5): every device pending now, whether or not the owner's page
 * has loaded its row, each as its own audited decision. A device decided meanwhile is left as it is.
 */
export function rejectAllPending(deps: EnvDeps, actor: AuditActor): { rejected: number; endedSessions: number } {
  const thumbprints = deps.db
    .select({ t: connectClients.clientProofKeyThumbprint })
    .from(connectClients)
    .where(and(eq(connectClients.status, 'pending'), isNull(connectClients.revokedAt)))
    .orderBy(asc(connectClients.firstRequestedAt), asc(connectClients.clientProofKeyThumbprint))
    .all();
  let rejected = 0;
  let endedSessions = 0;
  for (const { t } of thumbprints) {
    try {
      const result = rejectClient(deps, t, actor, (tx) => {
        const row = tx.select({ status: connectClients.status }).from(connectClients).where(and(eq(connectClients.clientProofKeyThumbprint, t), isNull(connectClients.revokedAt))).get();
        if (row?.status !== 'pending') throw new NoLongerPending();
      });
      rejected++;
      endedSessions += result.endedSessions;
    } catch (error) {
      if (!(error instanceof NoLongerPending) && !(error instanceof DomainError && error.kind === 'not_found')) throw error;
    }
  }
  return { rejected, endedSessions };
}

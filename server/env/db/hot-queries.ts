// The queries on the mint path, prepared once per database with Drizzle's `.prepare()`: building a
// query's SQL and compiling it again on every call was most of a mint's database time.
//
// better-sqlite3 has one synchronous connection, so a query prepared on the database runs inside
// whichever transaction (or savepoint) is open when it is called: in-transaction helpers call these
// with the database itself.
import { and, desc, eq, gte, isNull, lt, sql } from 'drizzle-orm';
import type { EnvDb } from './database';
import { auditLog, connectClients, connectCredentials, connectSettings, relayLink, replayMarkers } from './schema';

const thumbprint = sql.placeholder('thumbprint');
const at = sql`${sql.placeholder('at')}`;
const isThumbprint = eq(connectClients.clientProofKeyThumbprint, thumbprint);

const pendingActive = and(eq(connectClients.status, 'pending'), isNull(connectClients.revokedAt));
const p = (name: string) => sql`${sql.placeholder(name)}`;

function prepareHotQueries(db: EnvDb) {
  const freshPending = {
    accountId: p('accountId'),
    deviceId: p('deviceId'),
    status: sql`'pending'`,
    label: p('label'),
    os: p('os'),
    deviceType: p('deviceType'),
    firstRequestedAt: at,
    requestedAt: at,
    requestCount: sql`1`,
    updatedAt: at,
    approvedAt: sql`NULL`,
    rejectedAt: sql`NULL`,
    revokedAt: sql`NULL`,
    lastSeenAt: sql`NULL`,
    approvalExpiresAt: sql`NULL`,
    approvalExpiredAt: sql`NULL`,
    approver: sql`0`,
  };
  return {
    /** A new pending client, or a revoked one asking again: every decision and timestamp starts over. */
    insertPendingClient: db
      .insert(connectClients)
      .values({ clientProofKeyThumbprint: thumbprint, ...freshPending })
      .onConflictDoUpdate({ target: connectClients.clientProofKeyThumbprint, set: { ...freshPending, version: sql`${connectClients.version} + 1` } })
      .prepare(),
    /** Active pending clients not asked since `before`. */
    stalePending: db
      .select({ t: connectClients.clientProofKeyThumbprint })
      .from(connectClients)
      .where(and(pendingActive, lt(connectClients.requestedAt, sql.placeholder('before'))))
      .prepare(),
    pendingNewestFirst: db
      .select({ t: connectClients.clientProofKeyThumbprint })
      .from(connectClients)
      .where(pendingActive)
      .orderBy(desc(connectClients.requestedAt), desc(connectClients.clientProofKeyThumbprint))
      .prepare(),
    /** `detail` is the JSON text of the entry's detail object. */
    insertAudit: db
      .insert(auditLog)
      .values({ at: p('at'), actor: p('actor'), action: p('action'), clientProofKeyThumbprint: p('thumbprint'), detail: p('detail') })
      .prepare(),
    readSecurityMode: db.select({ securityMode: connectSettings.securityMode }).from(connectSettings).where(eq(connectSettings.id, 1)).prepare(),
    readLockdownUntil: db.select({ until: connectSettings.lockdownUntil }).from(connectSettings).where(eq(connectSettings.id, 1)).prepare(),
    readRelayLink: db.select().from(relayLink).where(eq(relayLink.id, 1)).prepare(),
    consumeMarker: db
      .insert(replayMarkers)
      .values({ kind: sql.placeholder('kind'), key: sql.placeholder('key'), expiresAt: sql.placeholder('expiresAt') })
      .onConflictDoNothing()
      .prepare(),
    insertCredential: db
      .insert(connectCredentials)
      .values({
        credentialHash: sql.placeholder('credentialHash'),
        clientProofKeyThumbprint: thumbprint,
        accountId: sql.placeholder('accountId'),
        securityMode: sql.placeholder('securityMode'),
        clientVersion: sql.placeholder('clientVersion'),
        issuedAt: sql.placeholder('issuedAt'),
        expiresAt: sql.placeholder('expiresAt'),
      })
      .prepare(),
    findClientRow: db.select().from(connectClients).where(isThumbprint).prepare(),
    findActiveClient: db.select().from(connectClients).where(and(isThumbprint, isNull(connectClients.revokedAt))).prepare(),
    hasActiveClient: db
      .select({ one: sql<number>`1` })
      .from(connectClients)
      .where(and(isThumbprint, isNull(connectClients.revokedAt)))
      .prepare(),
    /** A known client's repeat ask: refreshed metadata and count, returning the row. */
    refreshClientRequest: db
      .update(connectClients)
      .set({
        deviceId: sql`${sql.placeholder('deviceId')}`,
        label: sql`${sql.placeholder('label')}`,
        os: sql`${sql.placeholder('os')}`,
        deviceType: sql`${sql.placeholder('deviceType')}`,
        requestedAt: at,
        requestCount: sql`${connectClients.requestCount} + 1`,
        updatedAt: at,
      })
      .where(isThumbprint)
      .returning()
      .prepare(),
    markClientSeen: db.update(connectClients).set({ lastSeenAt: at, updatedAt: at }).where(isThumbprint).prepare(),
    /** A pending row that never had a decision (version 0) is deleted outright when dropped. */
    deleteUndecidedPending: db
      .delete(connectClients)
      .where(and(isThumbprint, eq(connectClients.version, 0), isNull(connectClients.revokedAt)))
      .returning({ t: connectClients.clientProofKeyThumbprint })
      .prepare(),
    deleteRequestAudit: db
      .delete(auditLog)
      .where(and(eq(auditLog.action, 'client_requested'), eq(auditLog.clientProofKeyThumbprint, thumbprint)))
      .prepare(),
    softDeletePending: db
      .update(connectClients)
      .set({ revokedAt: at, updatedAt: at, version: sql`${connectClients.version} + 1` })
      .where(and(isThumbprint, isNull(connectClients.revokedAt)))
      .prepare(),
    /** The newest audit entry of an action since a time: the open aggregate of pending drops. */
    findRecentAudit: db
      .select({ id: auditLog.id, detail: auditLog.detail })
      .from(auditLog)
      .where(and(eq(auditLog.action, sql.placeholder('action')), gte(auditLog.at, sql.placeholder('since'))))
      .orderBy(desc(auditLog.id))
      .limit(1)
      .prepare(),
    updateAuditEntry: db
      .update(auditLog)
      .set({ clientProofKeyThumbprint: sql`${thumbprint}`, detail: sql`${sql.placeholder('detail')}` })
      .where(eq(auditLog.id, sql.placeholder('id')))
      .prepare(),
  };
}

export type HotQueries = ReturnType<typeof prepareHotQueries>;

const byDatabase = new WeakMap<EnvDb, HotQueries>();

/** The hot-path queries of this database, prepared on first use. */
export function hotQueries(db: EnvDb): HotQueries {
  let queries = byDatabase.get(db);
  if (!queries) byDatabase.set(db, (queries = prepareHotQueries(db)));
  return queries;
}

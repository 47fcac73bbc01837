// The client registry and its state machine (SPEC §5.2), plus flood control (§5.3).
import { and, asc, desc, eq, isNull, lt, sql } from 'drizzle-orm';
import type { AuditActor, ClientInfo, ConnectClient, DecisionResult, RevokeResult } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { auditLog, connectClients, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
import { toConnectClient } from './client-view';
import { endClientAccess } from './client-access';

export const PENDING_CAP = 100;
export const PENDING_TTL_MS = 24 * 60 * 60 * 1000;
/** Drops (evictions, expiries) within this window share one audit entry per kind, so a flood cannot grow the audit log. */
export const DROP_AUDIT_WINDOW_MS = 60_000;
/** Thumbprints named in an aggregated drop entry. */
const DROP_AUDIT_SAMPLE = 3;

export function tooManyNewClients(): DomainError {
  return new DomainError('too_many_requests', 'rate_limited', 'Too many new clients are asking to connect to this environment right now; try again in a few seconds.');
}

const active = (thumbprint: string) =>
  and(eq(connectClients.clientProofKeyThumbprint, thumbprint), isNull(connectClients.revokedAt));

export function notFound(thumbprint: string): DomainError {
  return new DomainError('not_found', 'not_found', `No active Connect client found for ${thumbprint}.`);
}

export function findActiveClient(db: EnvDb, thumbprint: string): ConnectClientRow | undefined {
  return hotQueries(db).findActiveClient.get({ thumbprint });
}

/** Whether an active (not revoked) row exists for this key: one indexed lookup, no row to build. */
export function hasActiveClient(db: EnvDb, thumbprint: string): boolean {
  return hotQueries(db).hasActiveClient.get({ thumbprint }) !== undefined;
}

/** The client's row whatever its state (revoked rows included). */
export function findClientRow(db: EnvDb, thumbprint: string): ConnectClientRow | undefined {
  return hotQueries(db).findClientRow.get({ thumbprint });
}

/** Active clients, pending first, then the most recently changed. */
export function listClients(deps: Pick<EnvDeps, 'db'>): ConnectClient[] {
  return deps.db
    .select()
    .from(connectClients)
    .where(isNull(connectClients.revokedAt))
    .orderBy(desc(sql`${connectClients.status} = 'pending'`), desc(connectClients.updatedAt))
    .all()
    .map(toConnectClient);
}

export interface ClientRequest {
  clientProofKeyThumbprint: string;
  accountId: string;
  deviceId?: string | null | undefined;
  client?: ClientInfo | undefined;
}

export interface RequestOutcome {
  row: ConnectClientRow;
  /** Became pending from absent, revoked or another account: always worth an event. */
  statusChanged: boolean;
  endedSessions: number;
  /** Pending clients dropped by the cap or the 24 h expiry. */
  removed: string[];
}

/**
 * One request from a client, inside the caller's open transaction on `db` (minting composes it
 * with the credential). `admitNew`, when given, is asked before a new pending client (absent or revoked) is
 * recorded; a refusal throws `rate_limited` and the caller's transaction records nothing.
 */
export function requestClientInTx(tx: EnvDb, now: number, req: ClientRequest, admitNew?: () => boolean): RequestOutcome {
  const at = isoTime(now);
  const thumbprint = req.clientProofKeyThumbprint;
  const meta = req.client ?? {};
  const existing = findClientRow(tx, thumbprint);
  let endedSessions = 0;
  let statusChanged = false;
  let refreshed: ConnectClientRow | undefined;

  if (!existing || existing.revokedAt !== null) {
    if (admitNew && !admitNew()) throw tooManyNewClients();
    const fresh = {
      accountId: req.accountId,
      deviceId: req.deviceId ?? null,
      status: 'pending' as const,
      label: meta.label ?? null,
      os: meta.os ?? null,
      deviceType: meta.deviceType ?? 'unknown',
      firstRequestedAt: at,
      requestedAt: at,
      requestCount: 1,
      updatedAt: at,
      approvedAt: null,
      rejectedAt: null,
      revokedAt: null,
      lastSeenAt: null,
    };
    tx.insert(connectClients)
      .values({ clientProofKeyThumbprint: thumbprint, ...fresh })
      .onConflictDoUpdate({ target: connectClients.clientProofKeyThumbprint, set: { ...fresh, version: sql`${connectClients.version} + 1` } })
      .run();
    recordAudit(tx, now, { actor: 'system', action: 'client_requested', clientProofKeyThumbprint: thumbprint });
    statusChanged = true;
  } else if (existing.accountId !== req.accountId) {
    tx.update(connectClients)
      .set({
        accountId: req.accountId,
        deviceId: req.deviceId ?? existing.deviceId,
        status: 'pending',
        label: meta.label ?? existing.label,
        os: meta.os ?? existing.os,
        deviceType: meta.deviceType ?? existing.deviceType,
        requestedAt: at,
        requestCount: 1,
        updatedAt: at,
        approvedAt: null,
        rejectedAt: null,
        lastSeenAt: null,
        version: sql`${connectClients.version} + 1`,
      })
      .where(eq(connectClients.clientProofKeyThumbprint, thumbprint))
      .run();
    endedSessions = endClientAccess(tx, thumbprint, now).endedSessions;
    recordAudit(tx, now, {
      actor: 'system',
      action: 'client_account_changed',
      clientProofKeyThumbprint: thumbprint,
      detail: 'requested from another account; decision cleared',
    });
    statusChanged = true;
  } else {
    refreshed = hotQueries(tx).refreshClientRequest.get({
      deviceId: req.deviceId ?? existing.deviceId,
      label: meta.label ?? existing.label,
      os: meta.os ?? existing.os,
      deviceType: meta.deviceType ?? existing.deviceType,
      at,
      thumbprint,
    });
  }

  const removed = statusChanged ? enforcePendingBounds(tx, now, thumbprint) : [];
  const row = refreshed ?? findActiveClient(tx, thumbprint);
  if (!row) throw new DomainError('internal', 'internal', 'The client row vanished while it was being recorded.');
  return { row, statusChanged, endedSessions, removed };
}

/**
 * Expires pending rows untouched for 24 h and drops the oldest beyond the cap (S44). A row that
 * never had a decision (version 0) is deleted, with its `client_requested` audit entry: it carries
 * nothing worth keeping, and 10,000 distinct keys then leave at most the cap behind. A row with
 * history (decided, account changed, revoked before) keeps its soft delete. The drops are audited
 * in aggregate (`dropPendingRows`).
 */
function enforcePendingBounds(tx: EnvDb, now: number, keep: string): string[] {
  const pendingActive = and(eq(connectClients.status, 'pending'), isNull(connectClients.revokedAt));
  const expired = tx
    .select({ t: connectClients.clientProofKeyThumbprint })
    .from(connectClients)
    .where(and(pendingActive, lt(connectClients.requestedAt, isoTime(now - PENDING_TTL_MS))))
    .all()
    .map((r) => r.t)
    .filter((t) => t !== keep);
  const pending = tx
    .select({ t: connectClients.clientProofKeyThumbprint })
    .from(connectClients)
    .where(pendingActive)
    .orderBy(desc(connectClients.requestedAt), desc(connectClients.clientProofKeyThumbprint))
    .all()
    .map((r) => r.t)
    .filter((t) => !expired.includes(t));
  const over = pending.length > PENDING_CAP ? pending.filter((t) => t !== keep).slice(PENDING_CAP - 1) : [];
  dropPendingRows(tx, now, expired, 'pending_expired', 'untouched for 24 h');
  dropPendingRows(tx, now, over, 'pending_evicted', `over the cap of ${PENDING_CAP} pending clients`);
  return [...expired, ...over];
}

const DROP_DETAIL = /^dropped (\d+) pending client\(s\), [^;]*; last at [^;]*; e\.g\. (.*)$/;

/**
 * Removes dropped pending rows and records them in one audit entry per kind and window
 * (DROP_AUDIT_WINDOW_MS): the entry counts every drop and names the first few thumbprints, and its
 * thumbprint column is set only while it covers a single client.
 */
function dropPendingRows(tx: EnvDb, now: number, thumbprints: string[], action: 'pending_expired' | 'pending_evicted', why: string): void {
  if (thumbprints.length === 0) return;
  const at = isoTime(now);
  const q = hotQueries(tx);
  for (const thumbprint of thumbprints) {
    if (q.deleteUndecidedPending.get({ thumbprint })) q.deleteRequestAudit.run({ thumbprint });
    else q.softDeletePending.run({ at, thumbprint });
  }
  const open = q.findRecentAudit.get({ action, since: isoTime(now - DROP_AUDIT_WINDOW_MS) });
  const previous = open?.detail ? DROP_DETAIL.exec(open.detail) : null;
  const count = (previous ? Number(previous[1]) : 0) + thumbprints.length;
  const sample = [...(previous ? previous[2]!.split(', ') : []), ...thumbprints].slice(0, DROP_AUDIT_SAMPLE);
  const entry = {
    clientProofKeyThumbprint: count === 1 ? thumbprints[0]! : null,
    detail: `dropped ${count} pending client(s), ${why}; last at ${at}; e.g. ${sample.join(', ')}`,
  };
  if (open && previous) {
    q.updateAuditEntry.run({ id: open.id, thumbprint: entry.clientProofKeyThumbprint, detail: entry.detail });
  } else {
    recordAudit(tx, now, { actor: 'system', action, ...entry });
  }
}

/**
 * Events for a request, after commit. Repeated asks from one client are throttled; the event (and
 * `currentRow`, a fresher read of the row) is built only when it goes out.
 */
export function publishRequestEvents(deps: EnvDeps, outcome: RequestOutcome, currentRow: () => ConnectClientRow = () => outcome.row): void {
  for (const t of outcome.removed) deps.bus.publish({ type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: t } });
  const thumbprint = outcome.row.clientProofKeyThumbprint;
  // A status change always goes out, and counts toward the one-event-per-second window of the repeats after it.
  deps.bus.publishThrottled(`request:${thumbprint}`, () => ({ type: 'connectClientUpserted', payload: toConnectClient(currentRow()) }), deps.clock.now(), 1000, outcome.statusChanged);
  if (outcome.endedSessions > 0) {
    deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'sessions-ended' });
  }
}

/** Records a client request in its own transaction (the mint flow composes `requestClientInTx`). */
export function requestClient(deps: EnvDeps, req: ClientRequest): ConnectClient {
  const outcome = deps.db.transaction(() => requestClientInTx(deps.db, deps.clock.now(), req), { behavior: 'immediate' });
  publishRequestEvents(deps, outcome);
  return toConnectClient(outcome.row);
}

export type Decision = 'approve' | 'reject' | 'revoke';

function decide(deps: EnvDeps, thumbprint: string, decision: Decision, actor: AuditActor) {
  const now = deps.clock.now();
  const at = isoTime(now);
  const result = deps.db.transaction(
    (tx) => {
      const before = findActiveClient(deps.db, thumbprint);
      if (!before) throw notFound(thumbprint);
      const bump = { updatedAt: at, requestCount: 0, version: sql`${connectClients.version} + 1` };
      const changes =
        decision === 'approve'
          ? { ...bump, status: 'approved' as const, approvedAt: at, rejectedAt: null, lastSeenAt: before.status === 'approved' ? before.lastSeenAt : null }
          : decision === 'reject'
            ? { ...bump, status: 'rejected' as const, rejectedAt: at, approvedAt: null, lastSeenAt: null }
            : { ...bump, status: 'pending' as const, revokedAt: at, approvedAt: null, rejectedAt: null, lastSeenAt: null };
      // Conditional on the row still being active: a racing revoke makes this a no-op, never a resurrection.
      const updated = tx.update(connectClients).set(changes).where(active(thumbprint)).returning().get();
      if (!updated) throw notFound(thumbprint);
      const endedSessions = decision === 'approve' ? 0 : endClientAccess(tx, thumbprint, now).endedSessions;
      recordAudit(tx, now, {
        actor,
        action: `client_${decision === 'approve' ? 'approved' : decision === 'reject' ? 'rejected' : 'revoked'}`,
        clientProofKeyThumbprint: thumbprint,
        detail: `was ${before.status}${endedSessions ? `; ended ${endedSessions} session(s)` : ''}`,
      });
      return { row: updated, endedSessions };
    },
    { behavior: 'immediate' },
  );
  if (decision === 'revoke') {
    deps.bus.publish({ type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: thumbprint } });
  } else {
    deps.bus.publish({ type: 'connectClientUpserted', payload: toConnectClient(result.row) });
  }
  deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'decided' });
  if (result.endedSessions > 0) deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'sessions-ended' });
  return result;
}

export function approveClient(deps: EnvDeps, thumbprint: string, actor: AuditActor): DecisionResult {
  const { row, endedSessions } = decide(deps, thumbprint, 'approve', actor);
  return { client: toConnectClient(row), endedSessions };
}

export function rejectClient(deps: EnvDeps, thumbprint: string, actor: AuditActor): DecisionResult {
  const { row, endedSessions } = decide(deps, thumbprint, 'reject', actor);
  return { client: toConnectClient(row), endedSessions };
}

export function revokeClient(deps: EnvDeps, thumbprint: string, actor: AuditActor): RevokeResult {
  return { revoked: true, endedSessions: decide(deps, thumbprint, 'revoke', actor).endedSessions };
}

/** Active clients whose thumbprint starts with `prefix` (the CLI accepts unique prefixes). */
export function findClientsByPrefix(deps: Pick<EnvDeps, 'db'>, prefix: string): ConnectClient[] {
  return deps.db
    .select()
    .from(connectClients)
    .where(and(isNull(connectClients.revokedAt), sql`substr(${connectClients.clientProofKeyThumbprint}, 1, ${prefix.length}) = ${prefix}`))
    .orderBy(asc(connectClients.clientProofKeyThumbprint))
    .limit(20)
    .all()
    .map(toConnectClient);
}

// Approval lifetimes (SPEC §13): an approval with an end goes back to `pending` at that moment.
// Two things enforce it: a timer in the environment process, and a check at every use (mint,
// redeem, client session) so nothing depends on the timer having fired.
import { and, eq, gte, isNotNull, isNull, lte, min, sql } from 'drizzle-orm';
import { isoTime } from '../../common/clock';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb, EnvSql } from '../db/database';
import { clientSessions, connectClients, connectCredentials, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
import { toConnectClient } from './client-view';

export interface ExpiredApproval {
  row: ConnectClientRow;
  endedSessions: number;
}

/** Whether this row's approval has run out at `now`. */
export function approvalHasExpired(row: Pick<ConnectClientRow, 'status' | 'approvalExpiresAt'>, now: number): boolean {
  return row.status === 'approved' && row.approvalExpiresAt !== null && Date.parse(row.approvalExpiresAt) <= now;
}

/** Session lifetimes never outlast the approval they were granted under. */
export function sessionCap(row: Pick<ConnectClientRow, 'approvalExpiresAt'> | undefined): number | undefined {
  return row?.approvalExpiresAt ? Date.parse(row.approvalExpiresAt) : undefined;
}

/** Moves one expired approval back to pending inside the caller's transaction; null when it has not expired. */
export function expireApprovalInTx(tx: EnvDb, now: number, row: ConnectClientRow): ExpiredApproval | null {
  if (row.revokedAt !== null || !approvalHasExpired(row, now)) return null;
  const approvedUntil = row.approvalExpiresAt!;
  const endsAt = Date.parse(approvedUntil);
  const at = isoTime(now);
  const updated = tx
    .update(connectClients)
    .set({ status: 'pending', approvedAt: null, lastSeenAt: null, approvalExpiresAt: null, approvalExpiredAt: approvedUntil, approver: false, requestCount: 0, updatedAt: at, version: sql`${connectClients.version} + 1` })
    .where(and(eq(connectClients.clientProofKeyThumbprint, row.clientProofKeyThumbprint), eq(connectClients.status, 'approved'), eq(connectClients.approvalExpiresAt, approvedUntil), isNull(connectClients.revokedAt)))
    .returning()
    .get();
  if (!updated) return null;
  // Every session alive at the expiry moment ends at that moment, whenever this runs.
  const ended = tx
    .update(clientSessions)
    .set({ endedAt: endsAt })
    .where(and(eq(clientSessions.clientProofKeyThumbprint, row.clientProofKeyThumbprint), isNull(clientSessions.endedAt), gte(clientSessions.expiresAt, endsAt)))
    .run();
  tx.delete(connectCredentials).where(and(eq(connectCredentials.clientProofKeyThumbprint, row.clientProofKeyThumbprint), isNull(connectCredentials.redeemedAt))).run();
  recordAudit(tx, now, { actor: 'system', action: 'approval_expired', clientProofKeyThumbprint: row.clientProofKeyThumbprint, detail: { approvedUntil, endedSessions: ended.changes } });
  return { row: updated, endedSessions: ended.changes };
}

/** Events for expired approvals, after commit. */
export function publishExpired(deps: EnvDeps, expired: readonly ExpiredApproval[]): void {
  for (const e of expired) {
    deps.bus.publish({ type: 'connectClientUpserted', payload: toConnectClient(e.row) });
    deps.bus.signalClient({ clientProofKeyThumbprint: e.row.clientProofKeyThumbprint, kind: 'decided' });
    // Always: a session whose cap just passed is told it ended, even when the cap ended it already.
    deps.bus.signalClient({ clientProofKeyThumbprint: e.row.clientProofKeyThumbprint, kind: 'sessions-ended' });
  }
}

/** Expires every approval due at `now` (or only `thumbprint`'s), in one transaction, then tells everyone. */
export function expireDueApprovals(deps: EnvDeps, thumbprint?: string): ExpiredApproval[] {
  const now = deps.clock.now();
  const expired = deps.db.transaction(
    (tx) => {
      const due = tx
        .select()
        .from(connectClients)
        .where(
          and(
            eq(connectClients.status, 'approved'),
            isNull(connectClients.revokedAt),
            isNotNull(connectClients.approvalExpiresAt),
            lte(connectClients.approvalExpiresAt, isoTime(now)),
            thumbprint === undefined ? undefined : eq(connectClients.clientProofKeyThumbprint, thumbprint),
          ),
        )
        .all();
      return due.map((row) => expireApprovalInTx(deps.db, now, row)).filter((e): e is ExpiredApproval => e !== null);
    },
    { behavior: 'immediate' },
  );
  publishExpired(deps, expired);
  return expired;
}

/** The earliest approval end still ahead (epoch ms), or null. */
export function nextApprovalExpiry(db: EnvSql): number | null {
  const row = db
    .select({ next: min(connectClients.approvalExpiresAt) })
    .from(connectClients)
    .where(and(eq(connectClients.status, 'approved'), isNull(connectClients.revokedAt), isNotNull(connectClients.approvalExpiresAt)))
    .get();
  return row?.next ? Date.parse(row.next) : null;
}

/** How the timer waits: `setTimeout` in the process, a hand-driven scheduler in tests. */
export type Schedule = (run: () => void, delayMs: number) => () => void;

const MAX_TIMER_MS = 2 ** 31 - 1;
const realSchedule: Schedule = (run, delayMs) => {
  const timer = setTimeout(run, delayMs);
  timer.unref?.();
  return () => clearTimeout(timer);
};

/**
 * The environment's approval timer: sleeps until the earliest approval end, expires what is due,
 * and sleeps again. A new approval with an earlier end (seen on the bus) moves the alarm forward.
 */
export function startApprovalExpiryTimer(deps: EnvDeps, schedule: Schedule = realSchedule): { stop(): void } {
  let cancel: (() => void) | null = null;
  let alarmAt: number | null = null;
  let stopped = false;
  const arm = (at: number | null) => {
    cancel?.();
    cancel = null;
    alarmAt = at;
    if (at === null || stopped) return;
    cancel = schedule(fire, Math.min(Math.max(0, at - deps.clock.now()), MAX_TIMER_MS));
  };
  function fire() {
    cancel = null;
    if (stopped) return;
    try {
      expireDueApprovals(deps);
    } finally {
      arm(nextApprovalExpiry(deps.db));
    }
  }
  const off = deps.bus.subscribe((event) => {
    if (event.type !== 'connectClientUpserted' || event.payload.approvalExpiresAt === null) return;
    const at = Date.parse(event.payload.approvalExpiresAt);
    if (alarmAt === null || at < alarmAt) arm(at);
  });
  arm(nextApprovalExpiry(deps.db));
  return {
    stop() {
      stopped = true;
      off();
      cancel?.();
    },
  };
}

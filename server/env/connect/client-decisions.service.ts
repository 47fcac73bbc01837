// The owner's decisions on a client (SPEC §5.2 approve / reject / revoke, §5.4).
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { AuditActor, DecisionResult, RevokeResult } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { recordAudit } from '../audit/audit.service';
import type { EnvSql } from '../db/database';
import { clientSessions, connectClients } from '../db/schema';
import type { EnvDeps } from '../deps';
import { endClientAccess } from './client-access';
import { toConnectClient } from './client-view';
import { findActiveClient, notFound } from './clients.service';

const active = (thumbprint: string) =>
  and(eq(connectClients.clientProofKeyThumbprint, thumbprint), isNull(connectClients.revokedAt));

function capClientSessions(tx: EnvSql, thumbprint: string, until: number): void {
  tx.update(clientSessions)
    .set({ expiresAt: until })
    .where(and(eq(clientSessions.clientProofKeyThumbprint, thumbprint), isNull(clientSessions.endedAt), gt(clientSessions.expiresAt, until)))
    .run();
}

export type Decision = 'approve' | 'reject' | 'revoke';

/** `guard` runs first inside the transaction (an approver device must still be one). */
function decide(deps: EnvDeps, thumbprint: string, decision: Decision, actor: AuditActor, expiresInSeconds?: number, guard?: (tx: EnvSql) => void) {
  const now = deps.clock.now();
  const at = isoTime(now);
  const until = decision === 'approve' && expiresInSeconds !== undefined ? now + expiresInSeconds * 1000 : null;
  const result = deps.db.transaction(
    (tx) => {
      guard?.(tx);
      const before = findActiveClient(deps.db, thumbprint);
      if (!before) throw notFound(thumbprint);
      const bump = { updatedAt: at, requestCount: 0, version: sql`${connectClients.version} + 1` };
      const changes =
        decision === 'approve'
          ? { ...bump, status: 'approved' as const, approvedAt: at, rejectedAt: null, lastSeenAt: before.status === 'approved' ? before.lastSeenAt : null, approvalExpiresAt: until === null ? null : isoTime(until), approvalExpiredAt: null }
          : decision === 'reject'
            ? { ...bump, status: 'rejected' as const, rejectedAt: at, approvedAt: null, lastSeenAt: null, approvalExpiresAt: null, approvalExpiredAt: null, approver: false }
            : { ...bump, status: 'pending' as const, revokedAt: at, approvedAt: null, rejectedAt: null, lastSeenAt: null, approvalExpiresAt: null, approvalExpiredAt: null, approver: false };
      // Conditional on the row still being active: a racing revoke makes this a no-op, never a resurrection.
      const updated = tx.update(connectClients).set(changes).where(active(thumbprint)).returning().get();
      if (!updated) throw notFound(thumbprint);
      const endedSessions = decision === 'approve' ? 0 : endClientAccess(tx, thumbprint, now).endedSessions;
      // Sessions from an earlier, longer approval end with this one too (SPEC §13).
      if (until !== null) capClientSessions(tx, thumbprint, until);
      recordAudit(deps.db, now, {
        actor,
        action: decision === 'approve' ? 'client_approved' : decision === 'reject' ? 'client_rejected' : 'client_revoked',
        clientProofKeyThumbprint: thumbprint,
        detail: { was: before.status, endedSessions, ...(until !== null && { approvedUntil: isoTime(until) }) },
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

/** `expiresInSeconds` absent: until revoked. */
export function approveClient(deps: EnvDeps, thumbprint: string, actor: AuditActor, expiresInSeconds?: number, guard?: (tx: EnvSql) => void): DecisionResult {
  const { row, endedSessions } = decide(deps, thumbprint, 'approve', actor, expiresInSeconds, guard);
  return { client: toConnectClient(row), endedSessions };
}

export function rejectClient(deps: EnvDeps, thumbprint: string, actor: AuditActor, guard?: (tx: EnvSql) => void): DecisionResult {
  const { row, endedSessions } = decide(deps, thumbprint, 'reject', actor, undefined, guard);
  return { client: toConnectClient(row), endedSessions };
}

export function revokeClient(deps: EnvDeps, thumbprint: string, actor: AuditActor): RevokeResult {
  return { revoked: true, endedSessions: decide(deps, thumbprint, 'revoke', actor).endedSessions };
}

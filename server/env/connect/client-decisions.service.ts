// The owner's decisions on a client (SPEC §5.2 approve / reject / revoke, §5.4).
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { AuditActor, DecisionResult, RevokeResult } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { recordAudit } from '../audit/audit.service';
import { connectClients } from '../db/schema';
import type { EnvDeps } from '../deps';
import { endClientAccess } from './client-access';
import { toConnectClient } from './client-view';
import { findActiveClient, notFound } from './clients.service';

const active = (thumbprint: string) =>
  and(eq(connectClients.clientProofKeyThumbprint, thumbprint), isNull(connectClients.revokedAt));

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
          ? { ...bump, status: 'approved' as const, approvedAt: at, rejectedAt: null, lastSeenAt: before.status === 'approved' ? before.lastSeenAt : null, approvalExpiresAt: null }
          : decision === 'reject'
            ? { ...bump, status: 'rejected' as const, rejectedAt: at, approvedAt: null, lastSeenAt: null, approvalExpiresAt: null, approver: false }
            : { ...bump, status: 'pending' as const, revokedAt: at, approvedAt: null, rejectedAt: null, lastSeenAt: null, approvalExpiresAt: null, approver: false };
      // Conditional on the row still being active: a racing revoke makes this a no-op, never a resurrection.
      const updated = tx.update(connectClients).set(changes).where(active(thumbprint)).returning().get();
      if (!updated) throw notFound(thumbprint);
      const endedSessions = decision === 'approve' ? 0 : endClientAccess(tx, thumbprint, now).endedSessions;
      recordAudit(deps.db, now, {
        actor,
        action: decision === 'approve' ? 'client_approved' : decision === 'reject' ? 'client_rejected' : 'client_revoked',
        clientProofKeyThumbprint: thumbprint,
        detail: { was: before.status, endedSessions },
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

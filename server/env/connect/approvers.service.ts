// Approver devices (SPEC §13, S59): the owner lets an approved client approve and reject others,
// never itself, never anything else of the owner's. Revoking it ends its sessions like any client.
import { and, eq, isNull } from 'drizzle-orm';
import { MAX_APPROVER_APPROVAL_SECONDS, type AuditActor, type DecisionResult } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import type { EnvSql } from '../db/database';
import { connectClients } from '../db/schema';
import type { EnvDeps } from '../deps';
import { approvalHasExpired } from './approval-expiry.service';
import { approveClient, rejectClient } from './client-decisions.service';
import { toConnectClient } from './client-view';
import { notFound } from './clients.service';

/**
 * Whether `thumbprint` is, at `now`, an approved, active approver device. An approval whose end has
 * passed counts as over even while the expiry timer has not yet moved the row back to pending.
 */
export function isApprover(db: EnvSql, thumbprint: string, now: number): boolean {
  const row = db
    .select({ approver: connectClients.approver, status: connectClients.status, approvalExpiresAt: connectClients.approvalExpiresAt })
    .from(connectClients)
    .where(and(eq(connectClients.clientProofKeyThumbprint, thumbprint), isNull(connectClients.revokedAt)))
    .get();
  return row?.approver === true && row.status === 'approved' && !approvalHasExpired(row, now);
}

const notAnApprover = () => new DomainError('forbidden', 'forbidden', 'This device is not (or no longer) an approver.');

export function setApprover(deps: EnvDeps, thumbprint: string, approver: boolean, actor: AuditActor): DecisionResult {
  const now = deps.clock.now();
  const row = deps.db.transaction(
    (tx) => {
      const updated = tx
        .update(connectClients)
        .set({ approver, updatedAt: isoTime(now) })
        .where(and(eq(connectClients.clientProofKeyThumbprint, thumbprint), isNull(connectClients.revokedAt), eq(connectClients.status, 'approved')))
        .returning()
        .get();
      if (!updated) throw new DomainError('not_found', 'not_found', `No approved Connect client ${thumbprint}: only an approved device can be an approver.`);
      recordAudit(deps.db, now, { actor, action: 'approver_set', clientProofKeyThumbprint: thumbprint, detail: { approver } });
      return updated;
    },
    { behavior: 'immediate' },
  );
  deps.bus.publish({ type: 'connectClientUpserted', payload: toConnectClient(row) });
  return { client: toConnectClient(row), endedSessions: 0 };
}

/** The approver's own decision on another device; re-checked inside the decision's transaction. */
export function decideAsApprover(deps: EnvDeps, approverThumbprint: string, target: string, decision: 'approve' | 'reject', expiresInSeconds?: number): DecisionResult {
  if (target === approverThumbprint) throw new DomainError('forbidden', 'forbidden', 'An approver device cannot decide about itself.');
  if (decision === 'approve' && (expiresInSeconds === undefined || expiresInSeconds > MAX_APPROVER_APPROVAL_SECONDS)) {
    throw new DomainError('bad_request', 'invalid_input', 'An approver device approves for at most 7 days: give expiresInSeconds (up to 604800).');
  }
  // Still an approver at the moment of the decision: a racing revoke of the approver wins.
  const guard = (tx: EnvSql) => {
    if (!isApprover(tx, approverThumbprint, deps.clock.now())) throw notAnApprover();
  };
  return decision === 'approve' ? approveClient(deps, target, 'approver', expiresInSeconds, guard) : rejectClient(deps, target, 'approver', guard);
}

export { notFound };

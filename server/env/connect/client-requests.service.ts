// A client asking to connect (SPEC §5.2 "request"): the registration half of the state machine.
import { eq, sql } from 'drizzle-orm';
import type { ClientInfo, ConnectClient } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { connectClients, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
import { expireApprovalInTx, type ExpiredApproval } from './approval-expiry.service';
import { endClientAccess } from './client-access';
import { toConnectClient } from './client-view';
import { findActiveClient, findClientRow } from './clients.service';
import { isLockedDown, newDevicesPaused } from './lockdown.service';
import { enforcePendingBounds } from './pending-bounds';

export function tooManyNewClients(): DomainError {
  return new DomainError('too_many_requests', 'rate_limited', 'Too many new clients are asking to connect to this environment right now; try again in a few seconds.');
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
  /** This client's approval had run out: it went back to pending just now (SPEC §13). */
  expired?: ExpiredApproval;
}

/**
 * One request from a client, inside the caller's open transaction on `db` (minting composes it
 * with the credential). `admitNew`, when given, is asked before a new pending client (absent or revoked) is
 * recorded; a refusal throws `rate_limited` and the caller's transaction records nothing.
 */
export function requestClientInTx(tx: EnvDb, now: number, req: ClientRequest, admitNew?: () => boolean, keepPending?: (thumbprint: string) => boolean, opts: { invited?: boolean } = {}): RequestOutcome {
  const at = isoTime(now);
  const thumbprint = req.clientProofKeyThumbprint;
  const meta = req.client ?? {};
  const existing = findClientRow(tx, thumbprint);
  let endedSessions = 0;
  let statusChanged = false;
  let refreshed: ConnectClientRow | undefined;
  let expiredApproval: ExpiredApproval | undefined;

  if (!existing || existing.revokedAt !== null) {
    // Paused (SPEC §13): a key never seen before (or forgotten) leaves no trace, not even a pending row.
    // A device with a valid invite was asked for by the owner: the pause is not for it.
    if (!opts.invited && isLockedDown(tx, now)) throw newDevicesPaused();
    if (admitNew && !admitNew()) throw tooManyNewClients();
    hotQueries(tx).insertPendingClient.run({ thumbprint, accountId: req.accountId, deviceId: req.deviceId ?? null, label: meta.label ?? null, os: meta.os ?? null, deviceType: meta.deviceType ?? 'unknown', at });
    recordAudit(tx, now, { actor: 'system', action: 'client_requested', clientProofKeyThumbprint: thumbprint, detail: {} });
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
        approvalExpiresAt: null,
        approvalExpiredAt: null,
        approver: false,
        version: sql`${connectClients.version} + 1`,
      })
      .where(eq(connectClients.clientProofKeyThumbprint, thumbprint))
      .run();
    endedSessions = endClientAccess(tx, thumbprint, now).endedSessions;
    recordAudit(tx, now, {
      actor: 'system',
      action: 'client_account_changed',
      clientProofKeyThumbprint: thumbprint,
      detail: { endedSessions },
    });
    statusChanged = true;
  } else {
    // A check at every use: an approval past its end is pending before this request counts.
    const expired = expireApprovalInTx(tx, now, existing);
    if (expired) {
      statusChanged = true;
      endedSessions = expired.endedSessions;
      expiredApproval = expired;
    }
    refreshed = hotQueries(tx).refreshClientRequest.get({
      deviceId: req.deviceId ?? existing.deviceId,
      label: meta.label ?? existing.label,
      os: meta.os ?? existing.os,
      deviceType: meta.deviceType ?? existing.deviceType,
      at,
      thumbprint,
    });
  }

  const removed = statusChanged ? enforcePendingBounds(tx, now, thumbprint, keepPending) : [];
  const row = refreshed ?? findActiveClient(tx, thumbprint);
  if (!row) throw new DomainError('internal', 'internal', 'The client row vanished while it was being recorded.');
  return { row, statusChanged, endedSessions, removed, ...(expiredApproval && { expired: expiredApproval }) };
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
  if (outcome.expired) deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'decided' });
  if (outcome.endedSessions > 0 || outcome.expired) {
    deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'sessions-ended' });
  }
}

/** Records a client request in its own transaction (the mint flow composes `requestClientInTx`). */
export function requestClient(deps: EnvDeps, req: ClientRequest): ConnectClient {
  const outcome = deps.db.transaction(() => requestClientInTx(deps.db, deps.clock.now(), req), { behavior: 'immediate' });
  publishRequestEvents(deps, outcome);
  return toConnectClient(outcome.row);
}

// Flood control of pending clients (SPEC §5.3, S44): a cap, a 24 h expiry, and drops audited in aggregate.
import { isoTime } from '../../common/clock';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';

export const PENDING_CAP = 100;
export const PENDING_TTL_MS = 24 * 60 * 60 * 1000;
/** Drops (evictions, expiries) within this window share one audit entry per kind, so a flood cannot grow the audit log. */
export const DROP_AUDIT_WINDOW_MS = 60_000;
/** Thumbprints named in an aggregated drop entry. */
const DROP_AUDIT_SAMPLE = 3;

/**
 * Expires pending rows untouched for 24 h and drops the oldest beyond the cap (S44). A row that
 * never had a decision (version 0) is deleted, with its `client_requested` audit entry: it carries
 * nothing worth keeping, and 10,000 distinct keys then leave at most the cap behind. A row with
 * history (decided, account changed, revoked before) keeps its soft delete. The drops are audited
 * in aggregate (`dropPendingRows`). A row `protect` names (a device waiting for its owner right now)
 * is never evicted: a flood of fresh keys cannot push out a genuinely waiting device (S44); such rows
 * are bounded by the environment's wait slots.
 */
export function enforcePendingBounds(tx: EnvDb, now: number, keep: string, protect: (thumbprint: string) => boolean = () => false): string[] {
  const q = hotQueries(tx);
  const expired = q.stalePending
    .all({ before: isoTime(now - PENDING_TTL_MS) })
    .map((r) => r.t)
    .filter((t) => t !== keep);
  const pending = q.pendingNewestFirst
    .all()
    .map((r) => r.t)
    .filter((t) => !expired.includes(t));
  const over = pending.length > PENDING_CAP ? pending.filter((t) => t !== keep).slice(PENDING_CAP - 1).filter((t) => !protect(t)) : [];
  dropPendingRows(tx, now, expired, 'pending_expired');
  dropPendingRows(tx, now, over, 'pending_evicted');
  return [...expired, ...over];
}

/**
 * Removes dropped pending rows and records them in one audit entry per kind and window
 * (DROP_AUDIT_WINDOW_MS): the entry counts every drop and names the first few thumbprints, and its
 * thumbprint column is set only while it covers a single client.
 */
function dropPendingRows(tx: EnvDb, now: number, thumbprints: string[], action: 'pending_expired' | 'pending_evicted'): void {
  if (thumbprints.length === 0) return;
  const at = isoTime(now);
  const q = hotQueries(tx);
  for (const thumbprint of thumbprints) {
    if (q.deleteUndecidedPending.get({ thumbprint })) q.deleteRequestAudit.run({ thumbprint });
    else q.softDeletePending.run({ at, thumbprint });
  }
  const open = q.findRecentAudit.get({ action, since: isoTime(now - DROP_AUDIT_WINDOW_MS) });
  const previous = open && 'count' in open.detail ? open.detail : null;
  const count = (previous?.count ?? 0) + thumbprints.length;
  const detail = { count, sample: [...(previous?.sample ?? []), ...thumbprints].slice(0, DROP_AUDIT_SAMPLE), lastAt: at };
  const entry = { clientProofKeyThumbprint: count === 1 ? thumbprints[0]! : null, detail };
  if (open && previous) {
    q.updateAuditEntry.run({ id: open.id, thumbprint: entry.clientProofKeyThumbprint, detail: JSON.stringify(detail) });
  } else {
    recordAudit(tx, now, { actor: 'system', action, ...entry });
  }
}


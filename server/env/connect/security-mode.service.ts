import { and, eq, gt, isNull, notInArray } from 'drizzle-orm';
import { SecurityMode, type AuditActor } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb, EnvSql } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { clientSessions, connectClients, connectCredentials, connectSettings } from '../db/schema';
import type { EnvDeps } from '../deps';

export const MODE_RESET_HINT =
  'Reset it with `npx gatehouse connect security --mode client-approval` (or `--mode account`), or with the recovery buttons on the settings page.';

/** The stored mode, or a description of why it cannot be trusted. Never guesses `account`. */
export function readSecurityModeState(db: EnvDb): { mode: SecurityMode; error: null } | { mode: null; error: string } {
  let row: { securityMode: unknown } | undefined;
  try {
    row = hotQueries(db).readSecurityMode.get();
  } catch {
    return { mode: null, error: `The Connect security mode could not be read from the database. ${MODE_RESET_HINT}` };
  }
  if (!row) return { mode: 'account', error: null };
  const parsed = SecurityMode.safeParse(row.securityMode);
  if (!parsed.success) {
    const shown = JSON.stringify(String(row.securityMode).slice(0, 40));
    return { mode: null, error: `The stored Connect security mode ${shown} is not a known mode. ${MODE_RESET_HINT}` };
  }
  return { mode: parsed.data, error: null };
}

/** Fails closed: an unreadable or unknown stored mode is an error, not `account`. */
export function getSecurityMode(db: EnvDb): SecurityMode {
  const state = readSecurityModeState(db);
  if (state.mode === null) throw new DomainError('internal', 'security_mode_unreadable', state.error);
  return state.mode;
}

/**
 * Sets the mode; also the recovery path when the stored value is unreadable. Never approves anyone.
 * Requiring approval ends, in the same transaction, every session of a client that is not approved
 * (account-mode clients, pending and rejected ones) and its unredeemed credentials, so switching
 * back later revives none of them (S57); their open session streams end once it commits.
 */
export function setSecurityMode(deps: EnvDeps, mode: SecurityMode, actor: AuditActor): { mode: SecurityMode; endedSessions: number } {
  const now = deps.clock.now();
  const result = deps.db.transaction(
    (tx) => {
      const before = readSecurityModeState(deps.db);
      if (before.mode === mode) return null;
      tx.insert(connectSettings)
        .values({ id: 1, securityMode: mode, updatedAt: isoTime(now) })
        .onConflictDoUpdate({ target: connectSettings.id, set: { securityMode: mode, updatedAt: isoTime(now) } })
        .run();
      const ended = mode === 'client-approval' ? endUnapprovedAccess(tx, now) : [];
      recordAudit(deps.db, now, {
        actor,
        action: 'security_mode_set',
        detail: { from: before.mode, to: mode, ...(ended.length > 0 && { endedSessions: ended.length }) },
      });
      return ended;
    },
    { behavior: 'immediate' },
  );
  if (result === null) return { mode, endedSessions: 0 };
  deps.bus.publish({ type: 'connectSecurityModeUpdated', payload: { mode } });
  for (const thumbprint of new Set(result)) deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'sessions-ended' });
  return { mode, endedSessions: result.length };
}

/** Ends the live sessions and unredeemed credentials of every client not approved now; the thumbprint of each ended session. */
function endUnapprovedAccess(tx: EnvSql, now: number): string[] {
  const approved = tx
    .select({ thumbprint: connectClients.clientProofKeyThumbprint })
    .from(connectClients)
    .where(and(eq(connectClients.status, 'approved'), isNull(connectClients.revokedAt)));
  tx.delete(connectCredentials)
    .where(and(isNull(connectCredentials.redeemedAt), notInArray(connectCredentials.clientProofKeyThumbprint, approved)))
    .run();
  return tx
    .update(clientSessions)
    .set({ endedAt: now })
    .where(and(isNull(clientSessions.endedAt), gt(clientSessions.expiresAt, now), notInArray(clientSessions.clientProofKeyThumbprint, approved)))
    .returning({ thumbprint: clientSessions.clientProofKeyThumbprint })
    .all()
    .map((r) => r.thumbprint);
}

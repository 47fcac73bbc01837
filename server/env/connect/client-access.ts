import { and, eq, gt, isNull } from 'drizzle-orm';
import type { EnvSql } from '../db/database';
import { clientSessions, connectCredentials } from '../db/schema';

/**
 * Ends a client's live sessions and unredeemed credentials, inside the decision's transaction
 * (SPEC §5.4): revocation is real, not a flag checked later.
 */
export function endClientAccess(tx: EnvSql, thumbprint: string, now: number): { endedSessions: number; droppedCredentials: number } {
  const ended = tx
    .update(clientSessions)
    .set({ endedAt: now })
    .where(
      and(
        eq(clientSessions.clientProofKeyThumbprint, thumbprint),
        isNull(clientSessions.endedAt),
        gt(clientSessions.expiresAt, now),
      ),
    )
    .run();
  const dropped = tx
    .delete(connectCredentials)
    .where(and(eq(connectCredentials.clientProofKeyThumbprint, thumbprint), isNull(connectCredentials.redeemedAt)))
    .run();
  return { endedSessions: ended.changes, droppedCredentials: dropped.changes };
}

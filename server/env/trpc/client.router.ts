import { openClientSessionStream } from '../connect/client-sessions.service';
import { clientProcedure, router } from './init';

export const clientRouter = router({
  whoami: clientProcedure.query(({ ctx }) => ({
    environmentId: ctx.environmentId,
    clientProofKeyThumbprint: ctx.client.clientProofKeyThumbprint,
    scopes: ctx.client.scopes,
    expiresAt: ctx.client.expiresAt,
  })),
  /** A connected client's live session: `active` now, then `ended` the moment it is revoked or rejected. */
  session: clientProcedure.subscription(({ ctx, signal }) => openClientSessionStream(ctx.deps, ctx.client, signal)),
});

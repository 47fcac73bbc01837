import { clientProcedure, router } from './init';

export const clientRouter = router({
  whoami: clientProcedure.query(({ ctx }) => ({
    environmentId: ctx.environmentId,
    clientProofKeyThumbprint: ctx.client.clientProofKeyThumbprint,
    scopes: ctx.client.scopes,
    expiresAt: ctx.client.expiresAt,
  })),
});

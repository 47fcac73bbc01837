import { initTRPC } from '@trpc/server';
import { formatTrpcError, rethrowDomainErrors } from '../../common/trpc';
import type { RelayAccessClaims } from '../access-token';
import type { RelayDeps } from '../deps';

export interface RelayContext {
  deps: RelayDeps;
  authenticate: () => Promise<RelayAccessClaims>;
  /** The caller's address as this relay saw it (its TCP peer). */
  clientAddress: string;
  /** Aborts when the caller goes away before its answer. */
  callerGone: AbortSignal;
}

const t = initTRPC.context<RelayContext>().create({ isDev: false, errorFormatter: formatTrpcError as never });

const domainErrors = t.middleware(rethrowDomainErrors);

export const router = t.router;
export const accountProcedure = t.procedure.use(domainErrors).use(async ({ ctx, next }) => {
  const account = await ctx.authenticate();
  return next({ ctx: { ...ctx, account } });
});

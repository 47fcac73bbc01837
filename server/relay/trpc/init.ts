import { initTRPC } from '@trpc/server';
import { DomainError } from '../../common/errors';
import { formatTrpcError, toTrpcError } from '../../env/trpc/init';
import type { RelayAccessClaims } from '../access-token';
import type { RelayDeps } from '../deps';

export interface RelayContext {
  deps: RelayDeps;
  authenticate: () => Promise<RelayAccessClaims>;
}

const t = initTRPC.context<RelayContext>().create({ isDev: false, errorFormatter: formatTrpcError as never });

const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw toTrpcError(result.error.cause);
  return result;
});

export const router = t.router;
export const accountProcedure = t.procedure.use(domainErrors).use(async ({ ctx, next }) => {
  const account = await ctx.authenticate();
  return next({ ctx: { ...ctx, account } });
});

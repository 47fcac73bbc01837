import { initTRPC, TRPCError } from '@trpc/server';
import type { AuditActor } from '../../../shared/contracts';
import { formatTrpcError, rethrowDomainErrors } from '../../common/trpc';
import type { EnvDeps } from '../deps';
import type { OwnerIdentity } from '../owner/owner-auth.service';
import type { ClientIdentity } from '../connect/client-auth';

export interface EnvContext {
  deps: EnvDeps;
  environmentId: string;
  owner: OwnerIdentity | null;
  /** Who an owner change is attributed to in the audit log. */
  actor: AuditActor;
  /** A cookie-authenticated request from another origin: owner mutations are refused (CSRF). */
  crossSiteCookie: boolean;
  /** Key that identifies the owner's session, for per-session limits. */
  ownerKey: string | null;
  /** Verifies the DPoP client session of this request; only client procedures call it. */
  authenticateClient: () => Promise<ClientIdentity>;
}

const t = initTRPC.context<EnvContext>().create({ isDev: false, errorFormatter: formatTrpcError as never });

const domainErrors = t.middleware(rethrowDomainErrors);

export const router = t.router;
export const publicProcedure = t.procedure.use(domainErrors);

const requireScope = (scope: 'access:read' | 'access:write') =>
  t.middleware(({ ctx, type, next }) => {
    if (!ctx.owner) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in as the owner (login link or admin token).' });
    if (!ctx.owner.scopes.includes(scope)) throw new TRPCError({ code: 'FORBIDDEN', message: `This needs the ${scope} scope.` });
    if (type === 'mutation' && ctx.crossSiteCookie) {
      throw new TRPCError({ code: 'FORBIDDEN', message: 'Owner changes must come from the environment’s own pages.' });
    }
    return next({ ctx: { ...ctx, owner: ctx.owner } });
  });

export const ownerReadProcedure = publicProcedure.use(requireScope('access:read'));
export const ownerWriteProcedure = publicProcedure.use(requireScope('access:write'));

export const clientProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const client = await ctx.authenticateClient();
  return next({ ctx: { ...ctx, client } });
});

import { initTRPC, TRPCError } from '@trpc/server';
import type { AuditActor } from '../../../shared/contracts';
import { formatTrpcError, rethrowDomainErrors } from '../../common/trpc';
import type { EnvDeps } from '../deps';
import type { OwnerIdentity } from '../owner/owner-auth.service';
import type { ClientIdentity } from '../connect/client-auth';
import { requireRecentUserVerification } from '../owner/step-up';
import { isApprover } from '../connect/approvers.service';

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

/** Why this context may not call an owner procedure of `type` needing `scope`, or null when it may. */
export function ownerRefusal(ctx: EnvContext, scope: OwnerScope, type: 'query' | 'mutation' | 'subscription'): TRPCError | null {
  if (!ctx.owner) return new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in as the owner (login link or admin token).' });
  if (!ctx.owner.scopes.includes(scope)) return new TRPCError({ code: 'FORBIDDEN', message: `This needs the ${scope} scope.` });
  if (type === 'mutation' && ctx.crossSiteCookie) {
    return new TRPCError({ code: 'FORBIDDEN', message: 'Owner changes must come from the environment’s own pages.' });
  }
  return null;
}

type OwnerScope = 'access:read' | 'access:write';

const requireScope = (scope: OwnerScope) =>
  t.middleware(({ ctx, type, next }) => {
    const refusal = ownerRefusal(ctx, scope, type);
    if (refusal || !ctx.owner) throw refusal;
    return next({ ctx: { ...ctx, owner: ctx.owner } });
  });

export const ownerReadProcedure = publicProcedure.use(requireScope('access:read'));
export const ownerWriteProcedure = publicProcedure.use(requireScope('access:write'));
/** Dangerous owner changes (SPEC §14): approving, invites, approvers; they need a recent step-up once a passkey exists. */
export const ownerStepUpProcedure = ownerWriteProcedure.use(({ ctx, next }) => {
  requireRecentUserVerification(ctx);
  return next();
});

export const clientProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const client = await ctx.authenticateClient();
  return next({ ctx: { ...ctx, client } });
});

/**
 * The shared guard of the procedures an approver device may call (S59): the owner as usual (with
 * step-up where asked), or else a DPoP client session of a device that is an approver right now.
 */
const ownerOrApprover = (scope: OwnerScope, stepUp: boolean) =>
  t.middleware(async ({ ctx, type, next }) => {
    if (ctx.owner) {
      const refusal = ownerRefusal(ctx, scope, type);
      if (refusal) throw refusal;
      if (stepUp) requireRecentUserVerification(ctx);
      return next({ ctx: { ...ctx, approver: null as ClientIdentity | null } });
    }
    let client: ClientIdentity;
    try {
      client = await ctx.authenticateClient();
    } catch {
      throw ownerRefusal(ctx, scope, type)!;
    }
    // A device that is not an approver is just not the owner (S39): the same refusal as with no credentials.
    if (!isApprover(ctx.deps.db, client.clientProofKeyThumbprint, ctx.deps.clock.now())) throw ownerRefusal(ctx, scope, type)!;
    return next({ ctx: { ...ctx, approver: client as ClientIdentity | null } });
  });

export const ownerOrApproverReadProcedure = publicProcedure.use(ownerOrApprover('access:read', false));
export const ownerOrApproverWriteProcedure = publicProcedure.use(ownerOrApprover('access:write', false));
export const ownerStepUpOrApproverProcedure = publicProcedure.use(ownerOrApprover('access:write', true));

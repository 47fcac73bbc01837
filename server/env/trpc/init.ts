import { initTRPC, TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import type { AuditActor } from '../../../shared/contracts';
import type { ErrorReason } from '../../../shared/reasons';
import { DomainError, type DomainErrorKind } from '../../common/errors';
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

const codeOf: Record<DomainErrorKind, TRPC_ERROR_CODE_KEY> = {
  bad_request: 'BAD_REQUEST',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  too_many_requests: 'TOO_MANY_REQUESTS',
  payload_too_large: 'PAYLOAD_TOO_LARGE',
  internal: 'INTERNAL_SERVER_ERROR',
  unavailable: 'SERVICE_UNAVAILABLE',
  bad_gateway: 'BAD_GATEWAY',
  gateway_timeout: 'GATEWAY_TIMEOUT',
};

const reasonOfCode: Partial<Record<TRPC_ERROR_CODE_KEY, ErrorReason>> = {
  BAD_REQUEST: 'invalid_input',
  PARSE_ERROR: 'invalid_input',
  UNAUTHORIZED: 'unauthenticated',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  CONFLICT: 'conflict',
  TOO_MANY_REQUESTS: 'rate_limited',
};

function fieldErrorsOf(cause: unknown): Record<string, string[]> | null {
  const issues = (cause as { issues?: unknown })?.issues;
  if (!Array.isArray(issues)) return null;
  const out: Record<string, string[]> = {};
  for (const issue of issues as { path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>; message?: string }[]) {
    const key = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.') || '(input)';
    (out[key] ??= []).push(String(issue.message ?? 'Invalid value'));
  }
  return out;
}

export function toTrpcError(error: DomainError): TRPCError {
  return new TRPCError({ code: codeOf[error.kind], message: error.message, cause: error });
}

/** One shape for every error: a stable reason, field errors for bad input, never SQL or a stack. */
export function formatTrpcError({ shape, error }: { shape: { message: string; code: number; data: Record<string, unknown> }; error: TRPCError }) {
  const domain = error.cause instanceof DomainError ? error.cause : null;
  const fieldErrors = error.code === 'BAD_REQUEST' ? fieldErrorsOf(error.cause) : null;
  const internal = error.code === 'INTERNAL_SERVER_ERROR' && !domain;
  const message = internal ? 'Internal server error.' : fieldErrors ? `Invalid input: ${Object.entries(fieldErrors).map(([k, v]) => `${k}: ${v.join(', ')}`).join('; ')}` : shape.message;
  return {
    message,
    code: shape.code,
    data: {
      code: error.code,
      httpStatus: shape.data.httpStatus,
      path: shape.data.path,
      reason: domain?.reason ?? reasonOfCode[error.code] ?? 'internal',
      fieldErrors,
    },
  };
}

const t = initTRPC.context<EnvContext>().create({ isDev: false, errorFormatter: formatTrpcError as never });

/** Maps domain errors thrown by services to tRPC codes: routers stay thin. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw toTrpcError(result.error.cause);
  return result;
});

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

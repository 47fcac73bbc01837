// What the env and the relay tRPC servers share: one error shape and one mapping of domain errors.
import { TRPCError } from '@trpc/server';
import type { AnyRouter } from '@trpc/server';
import { nodeHTTPRequestHandler } from '@trpc/server/adapters/node-http';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorReason } from '../../shared/reasons';
import { DomainError, type DomainErrorKind } from './errors';
import { wwwAuthenticate, type ChallengeScheme } from './www-authenticate';

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

/** Middleware body: services throw domain errors, this maps them to tRPC codes so routers stay thin. */
export async function rethrowDomainErrors<R extends { ok: boolean }>({ next }: { next: () => Promise<R> }): Promise<R> {
  const result = await next();
  const cause = result.ok ? undefined : (result as { error?: { cause?: unknown } }).error?.cause;
  if (cause instanceof DomainError) throw toTrpcError(cause);
  return result;
}

/** Serves one tRPC request under `/trpc/`; unexpected failures are logged without details to the caller. */
export function serveTrpc<TRouter extends AnyRouter>(opts: {
  router: TRouter;
  req: IncomingMessage;
  res: ServerResponse;
  pathname: string;
  maxBodySize: number;
  label: string;
  createContext: () => unknown;
  /** The schemes a 401 from this procedure path challenges for (RFC 9110 §15.5.2); DPoP unless told. */
  challenge?: (procedurePath: string) => readonly ChallengeScheme[];
}): Promise<void> {
  return nodeHTTPRequestHandler({
    router: opts.router,
    req: opts.req,
    res: opts.res,
    path: opts.pathname.slice('/trpc/'.length),
    maxBodySize: opts.maxBodySize,
    createContext: opts.createContext as never,
    // A refusal for load says when to come back (RFC 6585 §4, S54).
    responseMeta: ({ errors, paths }) => {
      const headers: Record<string, string> = {};
      if (errors.some((e) => e.code === 'TOO_MANY_REQUESTS')) headers['retry-after'] = '2';
      const refused = errors.find((e) => e.code === 'UNAUTHORIZED');
      if (refused) {
        const domain = refused.cause instanceof DomainError ? refused.cause : null;
        const schemes = opts.challenge?.(paths?.[0] ?? '') ?? ['DPoP'];
        headers['www-authenticate'] = wwwAuthenticate(schemes, domain?.reason ?? 'unauthenticated', domain?.message);
      }
      return { headers };
    },
    onError: ({ error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR' && !(error.cause instanceof DomainError)) {
        console.error(`[gatehouse ${opts.label}] tRPC internal error:`, error.cause?.message ?? error.message);
      }
    },
  });
}

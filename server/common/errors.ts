import type { ErrorReason } from '../../shared/reasons';

/**
 * A domain error: services throw these with a stable `reason`; one place per transport maps the
 * kind to a tRPC code or HTTP status. `message` is safe to show to the caller.
 */
export type DomainErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_many_requests'
  | 'payload_too_large'
  | 'internal'
  | 'unavailable'
  | 'bad_gateway'
  | 'gateway_timeout';

export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  readonly reason: ErrorReason;

  constructor(kind: DomainErrorKind, reason: ErrorReason, message: string) {
    // A refusal is an answer, not a fault: no stack to capture. Internal errors keep theirs for the log.
    const stackLimit = Error.stackTraceLimit;
    if (kind !== 'internal') Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = stackLimit;
    }
    this.kind = kind;
    this.reason = reason;
    this.name = 'DomainError';
  }
}

export const httpStatusOf: Record<DomainErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_many_requests: 429,
  payload_too_large: 413,
  internal: 500,
  unavailable: 503,
  bad_gateway: 502,
  gateway_timeout: 504,
};

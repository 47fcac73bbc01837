// What both token endpoints (relay and environment, RFC 8693 token exchange for public DPoP clients)
// refuse before they look at the subject token: client authentication they cannot check, another
// grant, delegation, and a target that is not this server (RFC 6749 §5.2, RFC 8693 §2.1, §2.2.2).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DomainError } from './errors';
import { sendJson } from './http';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Thrown for a client that tried to authenticate: the endpoint answers 401 with a challenge in that scheme. */
export class ClientAuthenticationError extends DomainError {
  constructor(
    message: string,
    readonly scheme: 'Basic' | null,
  ) {
    super(scheme ? 'unauthorized' : 'bad_request', 'invalid_client', message);
  }
}

const stripSlash = (url: string) => url.replace(/\/+$/, '');

/**
 * Throws a DomainError for anything this endpoint cannot honour. `targets` are the names this server
 * answers to as `audience` or `resource` (compared without a trailing slash).
 */
export function checkTokenRequest(req: IncomingMessage, form: Record<string, unknown>, targets: readonly string[]): void {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const basic = /^basic(?: |$)/i.test(authorization);
    throw new ClientAuthenticationError(
      'This token endpoint serves public clients (token_endpoint_auth_method "none"): send no Authorization header; the DPoP proof binds the token.',
      basic ? 'Basic' : null,
    );
  }
  for (const field of ['client_secret', 'client_assertion', 'client_assertion_type']) {
    if (form[field] !== undefined) {
      throw new ClientAuthenticationError(`This token endpoint serves public clients (token_endpoint_auth_method "none") and cannot check "${field}": leave it out.`, null);
    }
  }
  const grant = form.grant_type;
  if (typeof grant !== 'string' || grant === '') throw new DomainError('bad_request', 'invalid_request', `grant_type is required: send grant_type=${TOKEN_EXCHANGE_GRANT}.`);
  if (grant !== TOKEN_EXCHANGE_GRANT) throw new DomainError('bad_request', 'unsupported_grant_type', `Only the token exchange grant (${TOKEN_EXCHANGE_GRANT}) is supported here.`);
  if (form.actor_token !== undefined || form.actor_token_type !== undefined) {
    throw new DomainError('bad_request', 'invalid_request', 'Delegation is not supported: send no actor_token or actor_token_type.');
  }
  if (form.requested_token_type !== undefined && form.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new DomainError('bad_request', 'invalid_request', `requested_token_type may only be ${ACCESS_TOKEN_TYPE}.`);
  }
  const own = new Set(targets.map(stripSlash));
  for (const field of ['audience', 'resource']) {
    const value = form[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !own.has(stripSlash(value))) {
      throw new DomainError('bad_request', 'invalid_target', `This server issues tokens only for itself: ${field} must be one of ${[...own].join(', ')} or left out.`);
    }
  }
}

/** GET (or any other method) on a POST-only endpoint: 405 with `Allow: POST` (RFC 9110 §15.5.6). */
export function tokenMethodNotAllowed(res: ServerResponse, headers: Record<string, string> = {}): void {
  const message = 'This endpoint takes POST only.';
  sendJson(res, 405, { error: 'invalid_request', error_description: message, reason: 'invalid_request', message }, { ...headers, allow: 'POST' });
}

/** Challenge schemes a token endpoint's 401 uses: the client's own Basic, else DPoP. */
export const tokenChallengeOf = (error: unknown): ['Basic'] | ['DPoP'] => (error instanceof ClientAuthenticationError && error.scheme === 'Basic' ? ['Basic'] : ['DPoP']);

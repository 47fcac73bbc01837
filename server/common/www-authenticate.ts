// Challenges on every 401 (RFC 9110 §11.6.1, §15.5.2), in the vocabulary of RFC 6750 §3 and RFC 9449 §7.1,
// shared by the environment and the relay so one failure reads the same wherever it happens.
import type { ErrorReason } from '../../shared/reasons';

/** The JWS algorithms a DPoP proof may be signed with: `Ed25519` is the RFC 9864 name of `EdDSA` over Ed25519. */
export const DPOP_SIGNING_ALGS = ['ES256', 'EdDSA', 'Ed25519'] as const;

export type ChallengeScheme = 'DPoP' | 'Bearer' | 'Basic';

/** RFC 6749 §A.7: error_description is printable ASCII without `"` or `\`; a header must be Latin-1 anyway. */
export function headerSafeDescription(text: string): string {
  return text
    .replace(/[‘’]/g, "'")
    .replace(/[“”"]/g, "'")
    .replace(/[–—]/g, '-')
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')
    .slice(0, 300);
}

/**
 * The `error` a challenge carries for a reason, or none: a request that sent no credentials at all
 * gets a bare challenge (RFC 6750 §3.1), a bad proof `invalid_dpop_proof`, anything else about the
 * token `invalid_token`.
 */
function challengeErrorOf(scheme: ChallengeScheme, reason: ErrorReason | undefined): string | undefined {
  if (reason === undefined || reason === 'unauthenticated') return undefined;
  if (reason === 'invalid_dpop_proof') return scheme === 'DPoP' ? 'invalid_dpop_proof' : 'invalid_token';
  if (reason === 'invalid_request') return 'invalid_request';
  return 'invalid_token';
}

/** One challenge, e.g. `DPoP error="invalid_token", algs="ES256 EdDSA Ed25519", error_description="…"`. */
export function challengeOf(scheme: ChallengeScheme, reason?: ErrorReason, description?: string): string {
  // RFC 6749 §5.2: a client that tried Basic authentication is answered in its own scheme, without OAuth params.
  if (scheme === 'Basic') return 'Basic realm="gatehouse"';
  const params: string[] = [];
  const error = challengeErrorOf(scheme, reason);
  if (error) params.push(`error="${error}"`);
  if (scheme === 'DPoP') params.push(`algs="${DPOP_SIGNING_ALGS.join(' ')}"`);
  if (error && description) params.push(`error_description="${headerSafeDescription(description)}"`);
  return params.length ? `${scheme} ${params.join(', ')}` : scheme;
}

/** The WWW-Authenticate value for a 401: one challenge per scheme the endpoint accepts, DPoP first. */
export function wwwAuthenticate(schemes: readonly ChallengeScheme[], reason?: ErrorReason, description?: string): string {
  return schemes.map((scheme) => challengeOf(scheme, reason, description)).join(', ');
}

/** A case-insensitive auth-scheme match (RFC 9110 §11.1): the credentials after `scheme `, or null. */
export function credentialsOf(authorization: string | undefined, scheme: string): string | null {
  if (!authorization || authorization.length <= scheme.length + 1) return null;
  if (authorization.slice(0, scheme.length).toLowerCase() !== scheme.toLowerCase() || authorization[scheme.length] !== ' ') return null;
  return authorization.slice(scheme.length + 1);
}

/** True when the Authorization header names `scheme`, whatever its case. */
export const usesScheme = (authorization: string | undefined, scheme: string): boolean => credentialsOf(authorization, scheme) !== null;

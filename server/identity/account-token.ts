import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { systemClock, type Clock } from '../common/clock';
import { DomainError } from '../common/errors';
import { precheckCompactJws } from '../common/jws-precheck';

/** Verifies an account ID token from the configured OpenID issuer; `accountId` is its `sub`. */
export interface AccountTokenVerifier {
  verify(idToken: string): Promise<{ accountId: string; claims: JWTPayload }>;
}

export interface OidcAccountTokenVerifierOptions {
  issuer: string;
  audience: string;
  clock?: Clock;
  fetchImpl?: typeof fetch;
}

/**
 * Asymmetric algorithms only: an HS* token could be forged with the issuer's public key as secret.
 * Of these, a provider's tokens may use those it announces (`id_token_signing_alg_values_supported`).
 * `Ed25519` is EdDSA's RFC 9864 name.
 */
export const ACCOUNT_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
/** An unknown `kid` refetches the issuer's JWKS at most this often: a rotated key works seconds later, and a flood of bogus kids costs one fetch per window. */
export const JWKS_REFETCH_COOLDOWN_MS = 2_000;
export const MAX_ACCOUNT_TOKEN_LENGTH = 16 * 1024;
export const ACCOUNT_TOKEN_CLOCK_TOLERANCE_SECONDS = 60;
const MAX_SUBJECT_LENGTH = 255;
const MAX_DISCOVERY_BYTES = 64 * 1024;
const ISSUER_TIMEOUT_MS = 5_000;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// ID tokens are typed `JWT` or not at all; any other typ (dpop+jwt, at+jwt, ours) is another kind of token.
const ID_TOKEN_TYPES = new Set(['jwt', 'application/jwt']);

const invalidToken = (message: string) => new DomainError('unauthorized', 'invalid_token', message);
const issuerUnavailable = (detail: string) =>
  new DomainError('unavailable', 'invalid_token', `Account issuer could not be reached (${detail}). Try again later.`);

/** Raised inside jose's key lookup so discovery/JWKS trouble is told apart from a bad token. */
class IssuerUnreachableError extends Error {
  constructor(readonly domainError: DomainError) {
    super(domainError.message);
  }
}

export function createOidcAccountTokenVerifier(opts: OidcAccountTokenVerifierOptions): AccountTokenVerifier {
  const { issuer, audience } = opts;
  const clock = opts.clock ?? systemClock;
  const fetchImpl = opts.fetchImpl ?? fetch;
  assertIssuerUrl(issuer);
  if (!audience) throw new TypeError('An account token audience is required.');
  const discoveryUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;

  let keys: Promise<DiscoveredKeys> | undefined;
  const discoveredKeys = (): Promise<DiscoveredKeys> => {
    // Concurrent first calls share one discovery; a failed one is forgotten so a later call retries.
    keys ??= discoverJwks(issuer, discoveryUrl, fetchImpl).catch((error: unknown) => {
      keys = undefined;
      throw error;
    });
    return keys;
  };

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const remote = await discoveredKeys().catch((error: unknown) => {
      throw new IssuerUnreachableError(error instanceof DomainError ? error : issuerUnavailable('discovery failed'));
    });
    // Within the safe list, only what this provider says it signs with (absent: the whole safe list).
    if (!remote.algorithms.has(header.alg ?? '')) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
    try {
      return await remote.getKey(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new IssuerUnreachableError(issuerUnavailable('its key set could not be fetched'));
    }
  };

  return {
    async verify(idToken) {
      precheck(idToken);
      // S32/S33 as for every other token: canonical segments, no duplicate member names (JSON.parse
      // would keep the last one), no crit/b64/zip/JWE — before jose or any key fetch.
      try {
        precheckCompactJws(idToken, MAX_ACCOUNT_TOKEN_LENGTH);
      } catch {
        throw invalidToken('The account token is malformed.');
      }
      const nowMs = clock.now();
      let payload: JWTPayload;
      try {
        // jose checks the alg allow-list before it asks getKey, so a bogus token causes no network I/O.
        ({ payload } = await jwtVerify(idToken, getKey, {
          issuer,
          audience,
          algorithms: [...ACCOUNT_TOKEN_ALGORITHMS],
          clockTolerance: ACCOUNT_TOKEN_CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(nowMs),
          requiredClaims: ['sub', 'exp', 'iat'],
        }));
      } catch (error) {
        throw toDomainError(error);
      }
      const accountId = checkClaims(payload, audience, nowMs);
      return { accountId, claims: payload };
    },
  };
}

function assertIssuerUrl(issuer: string): void {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError('The account issuer must be an absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('The account issuer must be an http(s) URL.');
  if (url.search || url.hash) throw new TypeError('The account issuer URL must not carry a query or fragment.');
}

/** Size and shape before any parsing; also refuses typ values that mark another kind of token. */
function precheck(idToken: unknown): void {
  if (typeof idToken !== 'string' || idToken.length === 0) throw invalidToken('An account ID token is required.');
  if (idToken.length > MAX_ACCOUNT_TOKEN_LENGTH) throw invalidToken('The account token is too large.');
  if (!COMPACT_JWS.test(idToken)) throw invalidToken('The account token is not a compact signed JWT.');
  let typ: unknown;
  try {
    ({ typ } = decodeProtectedHeader(idToken));
  } catch {
    throw invalidToken('The account token header is malformed.');
  }
  if (typ !== undefined && (typeof typ !== 'string' || !ID_TOKEN_TYPES.has(typ.toLowerCase()))) {
    throw invalidToken('The account token has an unexpected "typ" header.');
  }
}

function checkClaims(payload: JWTPayload, audience: string, nowMs: number): string {
  const { sub, iat, aud, azp } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH) {
    throw invalidToken('The account token has an invalid "sub" claim.');
  }
  // jose only checks iat for being a number; an ID token from the future is not one we accept.
  if (typeof iat !== 'number' || iat > Math.floor(nowMs / 1000) + ACCOUNT_TOKEN_CLOCK_TOLERANCE_SECONDS) {
    throw invalidToken('The account token "iat" claim is in the future.');
  }
  // OIDC Core 3.1.3.7: with several audiences the authorized party must be named, and be us.
  if (Array.isArray(aud) && aud.length > 1 && azp === undefined) {
    throw invalidToken('The account token has several audiences but no "azp" claim.');
  }
  if (azp !== undefined && azp !== audience) throw invalidToken('The account token was issued to another party ("azp").');
  return sub;
}

interface DiscoveredKeys {
  getKey: JWTVerifyGetKey;
  algorithms: Set<string>;
}

/** The announced algorithms within the safe list; EdDSA and Ed25519 name one algorithm, so either announces both. */
function announcedAlgorithms(value: unknown): Set<string> {
  const safe = new Set<string>(ACCOUNT_TOKEN_ALGORITHMS);
  if (!Array.isArray(value)) return safe;
  const announced = new Set(value.filter((alg): alg is string => typeof alg === 'string' && safe.has(alg)));
  if (announced.has('EdDSA') || announced.has('Ed25519')) announced.add('EdDSA').add('Ed25519');
  return announced;
}

async function discoverJwks(issuer: string, discoveryUrl: string, fetchImpl: typeof fetch): Promise<DiscoveredKeys> {
  let response: Response;
  try {
    response = await fetchImpl(discoveryUrl, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(ISSUER_TIMEOUT_MS),
    });
  } catch {
    throw issuerUnavailable('discovery request failed');
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw issuerUnavailable(`discovery answered HTTP ${response.status}`);
  }
  const document = await readJsonObject(response);
  if (document.issuer !== issuer) throw issuerUnavailable('its discovery document names a different issuer');
  const jwksUri = parseJwksUri(document.jwks_uri, issuer);
  const getKey = createRemoteJWKSet(jwksUri, { [customFetch]: fetchImpl, timeoutDuration: ISSUER_TIMEOUT_MS, cooldownDuration: JWKS_REFETCH_COOLDOWN_MS });
  return { getKey, algorithms: announcedAlgorithms(document.id_token_signing_alg_values_supported) };
}

async function readJsonObject(response: Response): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    throw issuerUnavailable('discovery response could not be read');
  }
  if (text.length > MAX_DISCOVERY_BYTES) throw issuerUnavailable('discovery document is too large');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw issuerUnavailable('discovery document is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw issuerUnavailable('discovery document is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function parseJwksUri(value: unknown, issuer: string): URL {
  if (typeof value !== 'string') throw issuerUnavailable('discovery document has no jwks_uri');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw issuerUnavailable('discovery document has an invalid jwks_uri');
  }
  // An https issuer must not hand out its keys over plain http.
  const allowed = new URL(issuer).protocol === 'https:' ? ['https:'] : ['https:', 'http:'];
  if (!allowed.includes(url.protocol)) throw issuerUnavailable('discovery document has an insecure jwks_uri');
  return url;
}

function toDomainError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  if (error instanceof IssuerUnreachableError) return error.domainError;
  if (error instanceof errors.JWTExpired) return invalidToken('The account token has expired.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return invalidToken('The account token was not issued by the configured account issuer.');
    if (error.claim === 'aud') return invalidToken('The account token is not meant for this audience.');
    if (error.claim === 'nbf') return invalidToken('The account token is not valid yet.');
    return invalidToken(`The account token has a missing or invalid "${error.claim}" claim.`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return invalidToken('The account token is signed with an algorithm that is not allowed.');
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalidToken('The account token signature is invalid.');
  if (error instanceof errors.JWKSNoMatchingKey) return invalidToken('No key of the account issuer matches the account token.');
  if (error instanceof errors.JWKSMultipleMatchingKeys) return invalidToken('The account token does not name its signing key.');
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return invalidToken('The account token is malformed.');
  return invalidToken('The account token could not be verified.');
}

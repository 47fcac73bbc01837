// The strict RFC 9449 DPoP proof verifier shared by the relay and the environment (SECURITY S1–S16, S21).
import { createHash, timingSafeEqual } from 'node:crypto';
import { compactVerify } from 'jose';
import { DomainError } from '../common/errors';
import { epochSeconds } from '../common/clock';
import { JwsFormatError, MAX_COMPACT_JWS_LENGTH, precheckCompactJws } from '../common/jws-precheck';
import { InvalidJwkError, publicJwkOf, type PublicJwk } from '../../shared/thumbprint';
import { accessTokenHashOf, importProofKey, proofKeyThumbprint } from './proof-key-cache';

export const DPOP_MAX_AGE_SECONDS = 60;
export const DPOP_MAX_FUTURE_SECONDS = 5;
export const DPOP_MAX_PROOF_LENGTH = MAX_COMPACT_JWS_LENGTH;
export const DPOP_JTI_MIN_LENGTH = 16;
export const DPOP_JTI_MAX_LENGTH = 128;
export const DPOP_HTU_MAX_LENGTH = 4096;

/** Every refusal of a proof; `message` is safe to return to the caller and never echoes the proof. */
export class DpopError extends DomainError {
  declare readonly reason: 'invalid_dpop_proof';
  constructor(message: string) {
    super('bad_request', 'invalid_dpop_proof', message);
    this.name = 'DpopError';
  }
}

export interface VerifiedDpopProof {
  thumbprint: string;
  jwk: PublicJwk;
  jti: string;
  iat: number;
  htm: string;
  htu: string;
  /** hex sha256(`${thumbprint}:${jti}`): the caller inserts it atomically once every other check passed. */
  replayKey: string;
  /** Milliseconds: the replay marker must outlive every moment the proof's `iat` is still accepted. */
  replayExpiresAt: number;
}

export interface VerifyDpopOptions {
  method: string;
  /**
   * The configured public URL of this endpoint, or its few configured URLs (an environment's own
   * and its routed endpoint at the relay, SPEC §11); never derived from Host or X-Forwarded-*.
   */
  url: string | readonly string[];
  accessToken?: string;
  /** Milliseconds since the epoch. */
  now: number;
}

/** The single DPoP header value from Node's `req.rawHeaders` (S1). */
export function readDpopHeader(rawHeaders: string[]): string {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'dpop') values.push(rawHeaders[i + 1] ?? '');
  }
  const [value] = values;
  if (value === undefined) throw new DpopError('missing DPoP proof');
  if (values.length > 1) throw new DpopError('more than one DPoP header');
  // Proxies and Node join repeated headers with ", "; a compact JWS never contains a comma.
  if (value.includes(',')) throw new DpopError('more than one DPoP proof in the DPoP header');
  return value;
}

// `Ed25519` is the fully-specified RFC 9864 name of `EdDSA` over Ed25519 (what panva's dpop and
// oauth4webapi emit); both verify alike. Advertised in DPOP_SIGNING_ALGS (server/common/www-authenticate.ts).
const ALGORITHMS = {
  ES256: { kty: 'EC', crv: 'P-256' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
} as const;
type DpopAlgorithm = keyof typeof ALGORITHMS;
const isDpopAlgorithm = (alg: unknown): alg is DpopAlgorithm => typeof alg === 'string' && Object.hasOwn(ALGORITHMS, alg);

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;
const REMOTE_KEY_HEADERS = ['jku', 'x5u', 'x5c'] as const;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/;

/**
 * scheme://host[:port]/path with scheme and host lower-cased and a default port dropped (URL does
 * that); query and fragment ignored. Undefined for anything ambiguous: userinfo, dot segments,
 * backslashes, whitespace, non-ASCII, percent-encoded hosts, non-http(s) schemes.
 */
export function normaliseHtu(raw: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(raw) || raw.includes('\\')) return undefined;
  const parts = URL_PARTS.exec(raw);
  const authority = parts?.[2];
  const path = parts?.[3] ?? '';
  if (!authority || /[@%]/.test(authority)) return undefined;
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function checkHeader(header: Record<string, unknown>): { alg: DpopAlgorithm; jwk: Record<string, unknown> } {
  const typ = header.typ;
  const normalisedTyp = typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (normalisedTyp !== 'dpop+jwt') throw new DpopError('DPoP proof typ must be dpop+jwt');
  const alg = header.alg;
  if (!isDpopAlgorithm(alg)) throw new DpopError('DPoP proof alg must be ES256, EdDSA or Ed25519');
  // S5: the key comes only from `jwk`; a remote or certificate key reference is refused, never fetched.
  for (const name of REMOTE_KEY_HEADERS) {
    if (Object.hasOwn(header, name)) throw new DpopError(`DPoP proof must not carry "${name}"`);
  }
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new DpopError('DPoP proof header jwk must be a JSON object');
  }
  const expected = ALGORITHMS[alg];
  const key = jwk as Record<string, unknown>;
  if (key.kty !== expected.kty || key.crv !== expected.crv) {
    throw new DpopError(`DPoP proof jwk must be a ${expected.kty} ${expected.crv} key for ${alg}`);
  }
  for (const member of PRIVATE_JWK_MEMBERS) {
    if (Object.hasOwn(key, member)) throw new DpopError('DPoP proof jwk must not contain private key material');
  }
  return { alg, jwk: key };
}

interface DpopClaims {
  jti: string;
  htm: string;
  htu: string;
  iat: number;
}

function checkClaims(payload: Record<string, unknown>, opts: VerifyDpopOptions, expectedHtus: readonly string[]): DpopClaims {
  const { jti, htm, htu, iat } = payload;
  if (typeof jti !== 'string' || jti.length < DPOP_JTI_MIN_LENGTH || jti.length > DPOP_JTI_MAX_LENGTH) {
    throw new DpopError(`DPoP proof jti must be ${DPOP_JTI_MIN_LENGTH}–${DPOP_JTI_MAX_LENGTH} characters`);
  }
  if (typeof htm !== 'string') throw new DpopError('DPoP proof htm must be a string');
  if (typeof htu !== 'string' || htu.length > DPOP_HTU_MAX_LENGTH) {
    throw new DpopError('DPoP proof htu must be a URL string');
  }
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0) {
    throw new DpopError('DPoP proof iat must be a non-negative integer');
  }
  if (htm !== opts.method) throw new DpopError('DPoP proof htm does not match the request method');
  const normalised = normaliseHtu(htu);
  if (normalised === undefined || !expectedHtus.includes(normalised)) throw new DpopError('DPoP proof htu does not match this endpoint');
  const now = epochSeconds(opts.now);
  if (iat < now - DPOP_MAX_AGE_SECONDS) throw new DpopError('DPoP proof is too old');
  if (iat > now + DPOP_MAX_FUTURE_SECONDS) throw new DpopError('DPoP proof is dated in the future');
  return { jti, htm, htu, iat };
}

/**
 * Verifies one proof for one request, cheapest checks first. It records nothing: the caller
 * inserts `replayKey` atomically after every other check passed, so a failing proof never burns
 * its jti (S16). Rejects only with DpopError.
 */
export async function verifyDpopProof(proof: string, opts: VerifyDpopOptions): Promise<VerifiedDpopProof> {
  const expectedHtus = (typeof opts.url === 'string' ? [opts.url] : opts.url).map((url) => {
    const normalised = normaliseHtu(url);
    if (normalised === undefined) throw new TypeError('the configured DPoP endpoint URL is not a plain http(s) URL');
    return normalised;
  });
  // S2: the size cap comes before any parsing.
  if (typeof proof !== 'string' || proof.length > DPOP_MAX_PROOF_LENGTH) {
    throw new DpopError('DPoP proof is too large');
  }

  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = precheckCompactJws(proof, DPOP_MAX_PROOF_LENGTH));
  } catch (error) {
    if (error instanceof JwsFormatError) throw new DpopError(`DPoP proof is malformed: ${error.message}`);
    throw new DpopError('DPoP proof is malformed');
  }
  const { alg, jwk } = checkHeader(header);
  const claims = checkClaims(payload, opts, expectedHtus);

  if (opts.accessToken !== undefined) {
    const ath = payload.ath;
    if (typeof ath !== 'string' || !sameString(ath, accessTokenHashOf(opts.accessToken))) {
      throw new DpopError('DPoP proof ath does not match the access token');
    }
  }

  let publicJwk: PublicJwk;
  let thumbprint: string;
  try {
    publicJwk = publicJwkOf(jwk);
    thumbprint = proofKeyThumbprint(publicJwk);
  } catch (error) {
    if (error instanceof InvalidJwkError) throw new DpopError(`DPoP proof jwk is invalid: ${error.message}`);
    throw new DpopError('DPoP proof jwk is invalid');
  }

  // S23: the signature is checked (by jose) with the very key the thumbprint was computed from.
  let key: CryptoKey;
  try {
    key = await importProofKey(publicJwk, alg, thumbprint);
  } catch {
    throw new DpopError('DPoP proof jwk is not a usable public key');
  }
  try {
    await compactVerify(proof, key, { algorithms: [alg] });
  } catch {
    throw new DpopError('DPoP proof signature is invalid');
  }

  return {
    thumbprint,
    jwk: publicJwk,
    ...claims,
    replayKey: sha256Hex(`${thumbprint}:${claims.jti}`),
    replayExpiresAt: (claims.iat + DPOP_MAX_AGE_SECONDS + DPOP_MAX_FUTURE_SECONDS) * 1000,
  };
}

// JWS signatures (RFC 7515/7518) made and checked with node:crypto's one-shot sign/verify, and the
// JWT claim rules (RFC 7519 §4.1) the servers apply after a signature holds.
//
// Why not jose here: jose 6 runs every operation through WebCrypto, which costs a job object,
// WebIDL argument conversion, a thread-pool hop and a promise per call. Measured on this project's
// 2-core machine (docs/performance.md, "node:crypto for the hot path"), CPU µs per operation at 64
// in flight, jose → node:crypto: Ed25519 verify 185 → 144, ES256 verify 131 → 82, Ed25519 sign
// 114 → 58, P-256 JWK import 180 → 83. The relay's token exchange, the connect and the
// environment's mint make several of these per request, so this is where their CPU went.
//
// What stays with jose: key generation, JWK export, JWKS fetching and key selection for outside
// account issuers (createRemoteJWKSet), thumbprints in shared code, and everything in the browser.
// The parsing rules stay in jws-precheck.ts (canonical base64url, strict JSON, no crit/b64/zip/JWE),
// which every token passes before it reaches verifyJwsSignature.
import { createPublicKey, KeyObject, sign, verify, constants, type JsonWebKey } from 'node:crypto';

export type JwsAlgorithm = 'EdDSA' | 'Ed25519' | 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

interface AlgorithmRule {
  /** node:crypto's digest name; null for Ed25519, which hashes internally. */
  hash: string | null;
  keyType: 'ed25519' | 'ec' | 'rsa';
  /** For ECDSA: the curve (OpenSSL name) and the exact raw R‖S signature length. */
  curve?: string;
  signatureLength?: number;
  pss?: boolean;
}

const RULES: Record<JwsAlgorithm, AlgorithmRule> = {
  EdDSA: { hash: null, keyType: 'ed25519', signatureLength: 64 },
  Ed25519: { hash: null, keyType: 'ed25519', signatureLength: 64 },
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1', signatureLength: 64 },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1', signatureLength: 96 },
  ES512: { hash: 'sha512', keyType: 'ec', curve: 'secp521r1', signatureLength: 132 },
  RS256: { hash: 'sha256', keyType: 'rsa' },
  RS384: { hash: 'sha384', keyType: 'rsa' },
  RS512: { hash: 'sha512', keyType: 'rsa' },
  PS256: { hash: 'sha256', keyType: 'rsa', pss: true },
  PS384: { hash: 'sha384', keyType: 'rsa', pss: true },
  PS512: { hash: 'sha512', keyType: 'rsa', pss: true },
};

/** RFC 7518 §3.3 and §3.5: RSA keys shorter than 2048 bits are refused. */
export const MIN_RSA_MODULUS_BITS = 2048;

export const isJwsAlgorithm = (alg: unknown): alg is JwsAlgorithm => typeof alg === 'string' && Object.hasOwn(RULES, alg);

/** Whether `key` is a key `alg` may use: the right type, curve and size. */
export function keyFitsAlgorithm(key: KeyObject, alg: JwsAlgorithm, use: 'verify' | 'sign'): boolean {
  const rule = RULES[alg];
  if (key.type !== (use === 'verify' ? 'public' : 'private')) return false;
  if (key.asymmetricKeyType !== rule.keyType) return false;
  const details = key.asymmetricKeyDetails;
  if (rule.curve !== undefined && details?.namedCurve !== rule.curve) return false;
  if (rule.keyType === 'rsa' && (details?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) return false;
  return true;
}

const fromCryptoKey = new WeakMap<CryptoKey, KeyObject>();

/** A node:crypto KeyObject for either kind of key; a CryptoKey's is made once and remembered. */
export function keyObjectOf(key: CryptoKey | KeyObject): KeyObject {
  if (key instanceof KeyObject) return key;
  let known = fromCryptoKey.get(key);
  if (!known) fromCryptoKey.set(key, (known = KeyObject.from(key)));
  return known;
}

/**
 * The public key a JWK describes, for `alg`; undefined when it is not a usable public key for it
 * (private members, wrong type or curve, a point off the curve, a short RSA modulus).
 */
export function publicKeyFromJwk(jwk: Record<string, unknown>, alg: JwsAlgorithm): KeyObject | undefined {
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) if (Object.hasOwn(jwk, member)) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
  return keyFitsAlgorithm(key, alg, 'verify') ? key : undefined;
}

function nodeOptions(rule: AlgorithmRule, key: KeyObject) {
  if (rule.keyType === 'ec') return { key, dsaEncoding: 'ieee-p1363' as const };
  if (rule.pss) return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  return key;
}

type VerifyCall = [hash: string | null, data: Uint8Array, key: ReturnType<typeof nodeOptions>, signature: Uint8Array];

/** verify()'s arguments when the key and signature length fit `alg`; undefined when they do not. */
function verifyCall(alg: JwsAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): VerifyCall | undefined {
  if (!isJwsAlgorithm(alg) || !(key instanceof KeyObject) || !keyFitsAlgorithm(key, alg, 'verify')) return undefined;
  const rule = RULES[alg];
  if (signature.length === 0) return undefined;
  if (rule.signatureLength !== undefined && signature.length !== rule.signatureLength) return undefined;
  if (rule.keyType === 'rsa' && signature.length !== Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)) return undefined;
  return [rule.hash, data, nodeOptions(rule, key), signature];
}

/**
 * Whether `signature` is a valid `alg` signature of `data` by `key`: false for a wrong key type,
 * curve or size for `alg`, and for a signature of the wrong length (so a DER ECDSA signature is
 * refused); never a throw. Synchronous, on the calling thread.
 */
export function verifySignature(alg: JwsAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const call = verifyCall(alg, key, data, signature);
  if (!call) return false;
  try {
    return verify(...call);
  } catch {
    return false;
  }
}

/**
 * verifySignature on libuv's thread pool (node:crypto's callback form, as oidc-provider's jose 5
 * does): the servers' event loops keep taking requests while a signature is checked on another
 * core. Resolves false, never rejects.
 */
export function verifySignatureAsync(alg: JwsAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const call = verifyCall(alg, key, data, signature);
  if (!call) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      verify(...call, (error, ok) => resolve(!error && ok));
    } catch {
      resolve(false);
    }
  });
}

/** The signing input and signature of a compact JWS in three segments, the signature canonical; else undefined. */
function splitCompact(token: string): [Buffer, Buffer] | undefined {
  if (typeof token !== 'string') return undefined;
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first <= 0 || last === first || token.indexOf('.', first + 1) !== last) return undefined;
  const encoded = token.slice(last + 1);
  const signature = Buffer.from(encoded, 'base64url');
  if (signature.toString('base64url') !== encoded) return undefined;
  return [Buffer.from(token.slice(0, last), 'latin1'), signature];
}

/**
 * Whether the compact JWS `token` carries a valid `alg` signature by `key` over its first two
 * segments (verifySignature's rules), with the signature canonically base64url-encoded; false for
 * a token not in three segments. The header is not read here: the caller has checked that its
 * `alg` is `alg` (jws-precheck.ts and the caller's own header rules).
 */
export function verifyJwsSignature(token: string, alg: JwsAlgorithm, key: KeyObject): boolean {
  const parts = splitCompact(token);
  return parts !== undefined && verifySignature(alg, key, parts[0], parts[1]);
}

/** verifyJwsSignature with the signature checked on the thread pool (verifySignatureAsync). */
export async function verifyJwsSignatureAsync(token: string, alg: JwsAlgorithm, key: KeyObject): Promise<boolean> {
  const parts = splitCompact(token);
  return parts !== undefined && verifySignatureAsync(alg, key, parts[0], parts[1]);
}

function signingCall(header: { alg: JwsAlgorithm } & Record<string, unknown>, payload: Record<string, unknown>, privateKey: CryptoKey | KeyObject) {
  const key = keyObjectOf(privateKey);
  if (!isJwsAlgorithm(header.alg) || !keyFitsAlgorithm(key, header.alg, 'sign')) {
    throw new TypeError(`the signing key does not fit ${String(header.alg)}`);
  }
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const rule = RULES[header.alg];
  return { input, args: [rule.hash, Buffer.from(input, 'latin1'), nodeOptions(rule, key)] as const };
}

/** A compact JWS of `payload` under `header` (whose `alg` names the algorithm), signed by `privateKey`. */
export function signJws(header: { alg: JwsAlgorithm } & Record<string, unknown>, payload: Record<string, unknown>, privateKey: CryptoKey | KeyObject): string {
  const { input, args } = signingCall(header, payload, privateKey);
  return `${input}.${sign(...args).toString('base64url')}`;
}

/** signJws with the signature made on the thread pool (node:crypto's callback form). */
export function signJwsAsync(header: { alg: JwsAlgorithm } & Record<string, unknown>, payload: Record<string, unknown>, privateKey: CryptoKey | KeyObject): Promise<string> {
  const { input, args } = signingCall(header, payload, privateKey);
  return new Promise((resolve, reject) => sign(...args, (error, signature) => (error ? reject(error) : resolve(`${input}.${signature.toString('base64url')}`))));
}

/** Why a JWT's claims were refused: the claim, and whether it was only out of date. */
export class JwtClaimError extends Error {
  constructor(
    readonly claim: string,
    readonly expired: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'JwtClaimError';
  }
}

export interface JwtClaimRules {
  /** Exact `iss`. */
  issuer?: string;
  /** `aud` must be this string, or an array that holds it. */
  audience?: string;
  /** Milliseconds since the epoch. */
  now: number;
  clockToleranceSeconds: number;
  /** Claims that must be present. */
  required?: readonly string[];
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * RFC 7519's registered-claim rules as jose's jwtVerify applies them: required claims present;
 * `iss` exact; `aud` equal to or containing the audience; `exp`, `nbf` and `iat`, when present,
 * numbers; not expired (`exp` ≤ now − tolerance is expired); not before `nbf` (+ tolerance).
 * Callers add their own limits (integer dates, a lifetime cap, iat not in the future).
 */
export function checkJwtClaims(payload: Record<string, unknown>, rules: JwtClaimRules): void {
  for (const claim of rules.required ?? []) {
    if (!Object.hasOwn(payload, claim) || payload[claim] === undefined) throw new JwtClaimError(claim, false, `missing required "${claim}" claim`);
  }
  if (rules.issuer !== undefined && payload.iss !== rules.issuer) throw new JwtClaimError('iss', false, 'unexpected "iss" claim value');
  if (rules.audience !== undefined) {
    const { aud } = payload;
    const matches = typeof aud === 'string' ? aud === rules.audience : Array.isArray(aud) && aud.includes(rules.audience);
    if (!matches) throw new JwtClaimError('aud', false, 'unexpected "aud" claim value');
  }
  const now = Math.floor(rules.now / 1000);
  const tolerance = rules.clockToleranceSeconds;
  for (const claim of ['iat', 'nbf', 'exp']) {
    if (Object.hasOwn(payload, claim) && !isNumericDate(payload[claim])) throw new JwtClaimError(claim, false, `"${claim}" claim must be a number`);
  }
  if (isNumericDate(payload.nbf) && payload.nbf > now + tolerance) throw new JwtClaimError('nbf', false, '"nbf" claim timestamp check failed');
  if (isNumericDate(payload.exp) && payload.exp <= now - tolerance) throw new JwtClaimError('exp', true, '"exp" claim timestamp check failed');
}

// Signing and strict verification shared by mint requests and mint responses (SPEC §2, SECURITY S26–S33).
import type { KeyObject } from 'node:crypto';
import { errors, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { DomainError } from '../common/errors';
import { epochSeconds } from '../common/clock';
import { JwsFormatError, precheckCompactJws } from '../common/jws-precheck';
import { publicJwkOf } from '../../shared/thumbprint';

export const MINT_REQUEST_TYP = 'gatehouse-mint-request+jwt';
export const MINT_RESPONSE_TYP = 'gatehouse-mint-response+jwt';
export const MINT_REQUEST_LIFETIME_SECONDS = 120;
export const MINT_PENDING_LIFETIME_SECONDS = 300;
/** Longest `exp − iat` either side accepts. */
export const MINT_MAX_LIFETIME_SECONDS = 300;
export const MINT_CLOCK_TOLERANCE_SECONDS = 60;
export const MINT_MAX_TOKEN_LENGTH = 8 * 1024;

export type MintProtocolReason = 'invalid_request' | 'endpoint_response_invalid';

/** A refused mint request (env side) or mint response (relay side); `message` is safe to show. */
export class MintProtocolError extends DomainError {
  declare readonly reason: MintProtocolReason;
  constructor(reason: MintProtocolReason, message: string) {
    super(reason === 'invalid_request' ? 'bad_request' : 'bad_gateway', reason, message);
    this.name = 'MintProtocolError';
  }
}

/** A private Ed25519 key, or the object loadOrCreateSigningKey returns (its kid goes in the header). */
export type MintSigningKey = CryptoKey | KeyObject | { privateKey: CryptoKey | KeyObject; kid?: string };
/** The pinned Ed25519 public key of the other side. */
export type MintPublicKey = JWK | CryptoKey | KeyObject;

const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

export function randomToken(bytes = 16): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url');
}

export async function signMintJws(key: MintSigningKey, typ: string, claims: JWTPayload): Promise<string> {
  const hasKid = typeof key === 'object' && 'privateKey' in key;
  const privateKey = hasKid ? key.privateKey : key;
  const header = hasKid && key.kid ? { alg: 'EdDSA', typ, kid: key.kid } : { alg: 'EdDSA', typ };
  return new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
}

function isCryptoKey(key: unknown): key is CryptoKey {
  return typeof CryptoKey !== 'undefined' && key instanceof CryptoKey;
}

function isKeyObject(key: unknown): key is KeyObject {
  return typeof key === 'object' && key !== null && 'asymmetricKeyType' in key && 'export' in key;
}

/** Imported public keys by curve and `x`: the same key material always imports to the same key. */
const importedKeys = new Map<string, CryptoKey | KeyObject>();
/** A frozen JWK (the stored relay key) cannot change, so its checks and import are done once. */
const importedFrozen = new WeakMap<object, CryptoKey | KeyObject>();

async function pinnedKey(key: MintPublicKey, reason: MintProtocolReason): Promise<CryptoKey | KeyObject> {
  const refuse = () => new MintProtocolError(reason, 'the pinned signing key is not an Ed25519 public key');
  if (isCryptoKey(key)) {
    if (key.type !== 'public' || key.algorithm.name !== 'Ed25519') throw refuse();
    return key;
  }
  if (isKeyObject(key)) {
    if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') throw refuse();
    return key;
  }
  // S31: a pinned key must be public; a private JWK here means a secret is where it should not be.
  if (typeof key !== 'object' || key === null || 'd' in key) throw refuse();
  const known = importedFrozen.get(key);
  if (known) return known;
  let jwk: ReturnType<typeof publicJwkOf>;
  try {
    jwk = publicJwkOf(key);
  } catch {
    throw refuse();
  }
  if (jwk.kty !== 'OKP') throw refuse();
  // The same pinned key is imported once, not for every request.
  const cacheKey = `${jwk.crv}:${jwk.x}`;
  let imported = importedKeys.get(cacheKey);
  if (!imported) {
    const fresh = await importJWK({ ...jwk }, 'EdDSA').catch(() => undefined);
    if (!fresh || fresh instanceof Uint8Array) throw refuse();
    if (importedKeys.size >= 64) importedKeys.clear();
    importedKeys.set(cacheKey, (imported = fresh));
  }
  if (Object.isFrozen(key)) importedFrozen.set(key, imported);
  return imported;
}

/** The pinned key and the issuer it speaks for. */
export interface MintPeer {
  key: MintPublicKey;
  issuer: string;
}

/** What a mint JWS must be, apart from who signed it. */
export interface MintJwsRules {
  typ: string;
  audience: string;
  /** Milliseconds since the epoch. */
  now: number;
  reason: MintProtocolReason;
  what: string;
}

export interface VerifyMintJwsOptions extends MintJwsRules {
  peer: MintPeer;
}

/** A token that passed the structural checks; its claims are not verified yet. */
export interface PrecheckedMintJws {
  token: string;
  unverified: Record<string, unknown>;
}

function describeJoseFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `has an invalid "${error.claim}" claim`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'has an invalid signature';
  return 'could not be verified';
}

const refusal = (rules: MintJwsRules, why: string) => new MintProtocolError(rules.reason, `${rules.what} ${why}`);

function checkMintHeader(header: Record<string, unknown>, rules: MintJwsRules): void {
  if (header.alg !== 'EdDSA') throw refusal(rules, 'must be signed with EdDSA');
  // Exact typ: a request, a response, a DPoP proof and a relay token can never stand in for each other.
  if (header.typ !== rules.typ) throw refusal(rules, `must have typ ${rules.typ}`);
  for (const name of EMBEDDED_KEY_HEADERS) {
    if (Object.hasOwn(header, name)) throw refusal(rules, `must not carry "${name}": the key is pinned`);
  }
}

/**
 * The checks that need no key, synchronously, so a refusal costs little: structure,
 * alg EdDSA and the exact typ, no key material in the header, and a token neither expired nor
 * dated in the future — the same rules, with the same messages, as after verification.
 */
export function precheckMintJws(token: unknown, rules: MintJwsRules): PrecheckedMintJws {
  let unverified: Record<string, unknown>;
  try {
    // Header rules run before the payload is decoded: a wrong alg or typ costs one small parse.
    ({ payload: unverified } = precheckCompactJws(token, MINT_MAX_TOKEN_LENGTH, (header) => checkMintHeader(header, rules)));
  } catch (error) {
    if (error instanceof MintProtocolError) throw error;
    throw refusal(rules, `is malformed${error instanceof JwsFormatError ? `: ${error.message}` : ''}`);
  }
  const nowSeconds = epochSeconds(rules.now);
  if (typeof unverified.exp === 'number' && unverified.exp <= nowSeconds - MINT_CLOCK_TOLERANCE_SECONDS) throw refusal(rules, 'has expired');
  if (Number.isSafeInteger(unverified.iat) && (unverified.iat as number) > nowSeconds + MINT_CLOCK_TOLERANCE_SECONDS) throw refusal(rules, 'is dated in the future');
  return { token: token as string, unverified };
}

/**
 * After precheckMintJws: the signature checked with the pinned key only, iss/aud/exp by jose, and
 * sane iat/exp.
 */
export async function verifyPrecheckedMintJws(prechecked: PrecheckedMintJws, opts: VerifyMintJwsOptions): Promise<Record<string, unknown>> {
  const fail = (why: string) => refusal(opts, why);
  const { peer } = opts;
  const key = await pinnedKey(peer.key, opts.reason);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(prechecked.token, key, {
      algorithms: ['EdDSA'],
      typ: opts.typ,
      issuer: peer.issuer,
      audience: opts.audience,
      clockTolerance: MINT_CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(opts.now),
      requiredClaims: ['iss', 'aud', 'sub', 'jti', 'iat', 'exp'],
    }));
  } catch (error) {
    throw fail(describeJoseFailure(error));
  }
  const { iat, exp } = payload;
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) throw fail('must carry integer iat and exp');
  const issuedAt = iat as number;
  const expiresAt = exp as number;
  if (expiresAt <= issuedAt) throw fail('expires before it was issued');
  if (expiresAt - issuedAt > MINT_MAX_LIFETIME_SECONDS) throw fail('lives longer than allowed');
  if (issuedAt > epochSeconds(opts.now) + MINT_CLOCK_TOLERANCE_SECONDS) throw fail('is dated in the future');
  if (typeof payload.aud !== 'string') throw fail('must have a single audience');
  return payload as Record<string, unknown>;
}

/** Both steps: precheckMintJws, then verifyPrecheckedMintJws. */
export async function verifyMintJws(token: unknown, opts: VerifyMintJwsOptions): Promise<Record<string, unknown>> {
  return verifyPrecheckedMintJws(precheckMintJws(token, opts), opts);
}

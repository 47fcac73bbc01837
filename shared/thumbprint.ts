// RFC 7638 thumbprints of client and server public keys. Browser-safe: WebCrypto and jose only.
import { base64url, calculateJwkThumbprint } from 'jose';

export type EcP256PublicJwk = { kty: 'EC'; crv: 'P-256'; x: string; y: string };
export type Ed25519PublicJwk = { kty: 'OKP'; crv: 'Ed25519'; x: string };
export type PublicJwk = EcP256PublicJwk | Ed25519PublicJwk;

export class InvalidJwkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidJwkError';
  }
}

const COORDINATE_32_BYTES = /^[A-Za-z0-9_-]{43}$/;

// S24: one key must have exactly one spelling, or one device could present several client ids.
function canonicalCoordinate(jwk: Record<string, unknown>, member: 'x' | 'y'): string {
  const value = jwk[member];
  if (typeof value !== 'string' || !COORDINATE_32_BYTES.test(value)) {
    throw new InvalidJwkError(`JWK "${member}" must be 32 bytes of unpadded base64url`);
  }
  const bytes = base64url.decode(value);
  if (bytes.length !== 32 || base64url.encode(bytes) !== value) {
    throw new InvalidJwkError(`JWK "${member}" is not canonically encoded`);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The public members of an EC P-256 or OKP Ed25519 JWK, canonical encoding enforced; anything else throws. */
export function publicJwkOf(jwk: unknown): PublicJwk {
  if (!isPlainObject(jwk)) throw new InvalidJwkError('JWK must be a JSON object');
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    return { kty: 'EC', crv: 'P-256', x: canonicalCoordinate(jwk, 'x'), y: canonicalCoordinate(jwk, 'y') };
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return { kty: 'OKP', crv: 'Ed25519', x: canonicalCoordinate(jwk, 'x') };
  }
  throw new InvalidJwkError('JWK must be an EC P-256 or OKP Ed25519 key');
}

/** RFC 7638 SHA-256 thumbprint (43 base64url characters) of an EC P-256 or OKP Ed25519 public key. */
export async function jwkThumbprint(jwk: unknown): Promise<string> {
  return calculateJwkThumbprint(publicJwkOf(jwk), 'sha256');
}

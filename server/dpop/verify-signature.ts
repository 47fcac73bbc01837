// The raw signature check of DPoP proofs (S8, S48). verifyDpopProof calls exactly these two
// functions, so the Wycheproof vectors in server/testing/vectors exercise the production path.
import type { PublicJwk } from '../../shared/thumbprint';

export type ProofAlgorithm = 'ES256' | 'EdDSA';

/** Both ES256 (IEEE P1363 r‖s) and Ed25519 signatures are exactly 64 bytes; DER or padded forms are refused. */
export const PROOF_SIGNATURE_LENGTH = 64;

const importParams = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
} as const;

const verifyParams = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  EdDSA: { name: 'Ed25519' },
} as const;

export class UnusableKeyError extends Error {
  constructor() {
    super('not a usable public key');
    this.name = 'UnusableKeyError';
  }
}

/** Imports a canonical public JWK (from publicJwkOf) for verification only; a point off the curve throws UnusableKeyError. */
export async function importProofKey(alg: ProofAlgorithm, jwk: PublicJwk): Promise<CryptoKey> {
  const wanted = alg === 'ES256' ? 'EC' : 'OKP';
  if (jwk.kty !== wanted) throw new UnusableKeyError();
  try {
    return await crypto.subtle.importKey('jwk', { ...jwk }, importParams[alg], false, ['verify']);
  } catch {
    throw new UnusableKeyError();
  }
}

/** True only for a signature of exactly `signingInput` by `key`; never throws for hostile bytes. */
export async function verifyProofSignature(alg: ProofAlgorithm, key: CryptoKey, signingInput: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.byteLength !== PROOF_SIGNATURE_LENGTH) return false;
  try {
    return await crypto.subtle.verify(verifyParams[alg], key, new Uint8Array(signature), new Uint8Array(signingInput));
  } catch {
    return false;
  }
}

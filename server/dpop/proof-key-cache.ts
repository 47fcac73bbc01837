// Imported DPoP proof keys, remembered by RFC 7638 thumbprint (bounded LRU), and the thumbprint
// itself computed with node:crypto.
//
// A client signs every proof with one key, so each of its requests used to import that JWK again
// (WebCrypto `importKey` on the main thread: ~40 % of the relay token endpoint's profile). The
// thumbprint is SHA-256 over the key's required members, computed by the verifier anyway from the
// canonical public JWK (S24: one spelling per key), so the same thumbprint is the same key (S23:
// the signature is still checked with the very key the thumbprint names). A key that does not
// import (off the curve, wrong length) throws and is never remembered.
//
// The key is imported with jose's `importJWK` (a WebCrypto CryptoKey): jose 6 on Node 20 turns a
// node:crypto KeyObject into a CryptoKey by exporting and re-importing it on every verify, so a
// KeyObject would cost an import per proof again (measured: createPublicKey + that conversion is
// more than importJWK alone).
import { createHash } from 'node:crypto';
import { importJWK } from 'jose';
import type { PublicJwk } from '../../shared/thumbprint';

/** Distinct client keys remembered; each entry is one small CryptoKey with its map slot (~1 KB). */
export const PROOF_KEY_CACHE_MAX = 4096;

const cache = new Map<string, CryptoKey>();

/** The public key of `jwk` for `alg`, from the cache or imported (and then remembered). */
export async function importProofKey(jwk: PublicJwk, alg: 'ES256' | 'EdDSA' | 'Ed25519', thumbprint: string): Promise<CryptoKey> {
  const id = `${alg}.${thumbprint}`;
  const hit = cache.get(id);
  if (hit) {
    // Most recently used goes last: a Map iterates in insertion order, so the first key is the oldest.
    cache.delete(id);
    cache.set(id, hit);
    return hit;
  }
  const key = await importJWK({ ...jwk }, alg);
  if (key instanceof Uint8Array) throw new TypeError('not an asymmetric key');
  cache.set(id, key);
  if (cache.size > PROOF_KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
  return key;
}

/**
 * RFC 7638 SHA-256 thumbprint of a canonical public JWK (from `publicJwkOf`): the required members
 * in lexicographic order, no whitespace. Same answer as jose's `calculateJwkThumbprint` (tested),
 * without a WebCrypto digest job per proof (~15 % of the token endpoint's main thread).
 */
export function proofKeyThumbprint(jwk: PublicJwk): string {
  const json = jwk.kty === 'EC' ? `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}` : `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`;
  return createHash('sha256').update(json).digest('base64url');
}

/** base64url(SHA-256(token)), the DPoP `ath` (same as shared/dpop's browser-safe `accessTokenHash`, tested). */
export function accessTokenHashOf(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

/** For tests: how many keys are remembered. */
export const proofKeyCacheSize = (): number => cache.size;

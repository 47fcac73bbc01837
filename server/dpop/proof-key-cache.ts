// Imported DPoP proof keys, remembered by RFC 7638 thumbprint (bounded LRU).
//
// A client signs every proof with one key, so each of its requests used to import that JWK again
// (WebCrypto `importKey` on the main thread: ~40 % of the relay token endpoint's profile). The
// thumbprint is SHA-256 over the key's required members, computed by the verifier anyway from the
// canonical public JWK (S24: one spelling per key), so the same thumbprint is the same key (S23:
// the signature is still checked with the very key the thumbprint names). A key that does not
// import (off the curve, wrong length) throws and is never remembered.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { PublicJwk } from '../../shared/thumbprint';

/** Distinct client keys remembered; each entry is one small KeyObject (~1 KB with its map slot). */
export const PROOF_KEY_CACHE_MAX = 4096;

const cache = new Map<string, KeyObject>();

/**
 * The public key of `jwk` for `alg`, imported with node:crypto (the same OpenSSL import and point
 * validation WebCrypto uses, without its async wrapper; ~2 × cheaper for a new P-256 key).
 */
export function importProofKey(jwk: PublicJwk, alg: 'ES256' | 'EdDSA', thumbprint: string): KeyObject {
  const id = `${alg}.${thumbprint}`;
  const hit = cache.get(id);
  if (hit) {
    // Most recently used goes last: a Map iterates in insertion order, so the first key is the oldest.
    cache.delete(id);
    cache.set(id, hit);
    return hit;
  }
  const key = createPublicKey({ key: { ...jwk }, format: 'jwk' });
  cache.set(id, key);
  if (cache.size > PROOF_KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
  return key;
}

/** For tests: how many keys are remembered. */
export const proofKeyCacheSize = (): number => cache.size;

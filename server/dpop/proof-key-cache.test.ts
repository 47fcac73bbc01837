// The proof-key cache must never let one key's entry verify another key's proof, never remember a
// key that did not import, and stay bounded.
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { jwkThumbprint, publicJwkOf } from '../../shared/thumbprint';
import { claims, ed25519Key, es256Key, header, proofWith, signRaw, verifyOptions } from './dpop-test-kit';
import { accessTokenHash } from '../../shared/dpop';
import { accessTokenHashOf, importProofKey, PROOF_KEY_CACHE_MAX, proofKeyCacheSize, proofKeyThumbprint } from './proof-key-cache';
import { DpopError, verifyDpopProof } from './verify-dpop';

describe('DPoP proof-key cache', () => {
  it('computes the same RFC 7638 thumbprint and ath as the browser-safe helpers', async () => {
    for (const key of [await es256Key(), await es256Key(), await ed25519Key()]) {
      expect(proofKeyThumbprint(publicJwkOf(key.publicJwk))).toBe(await jwkThumbprint(key.publicJwk));
    }
    for (const token of ['a', 'eyJhbGciOiJFZERTQSJ9.e30.sig', 'ü'.repeat(100)]) expect(accessTokenHashOf(token)).toBe(await accessTokenHash(token));
  });

  it('hands the same imported key to every proof of one key, and a different one to another key', async () => {
    const a = await es256Key();
    const b = await es256Key();
    const ta = await jwkThumbprint(a.publicJwk);
    const tb = await jwkThumbprint(b.publicJwk);
    const ka = await importProofKey(publicJwkOf(a.publicJwk), 'ES256', ta);
    expect(await importProofKey(publicJwkOf(a.publicJwk), 'ES256', ta)).toBe(ka);
    expect(await importProofKey(publicJwkOf(b.publicJwk), 'ES256', tb)).not.toBe(ka);
    // Both verify their own proofs twice (second time from the cache)...
    for (let i = 0; i < 2; i++) {
      expect((await verifyDpopProof(await proofWith(a), verifyOptions)).thumbprint).toBe(ta);
      expect((await verifyDpopProof(await proofWith(b), verifyOptions)).thumbprint).toBe(tb);
    }
    // ...and a proof naming A's cached key but signed by B is refused.
    await expect(verifyDpopProof(await signRaw(header(a), claims(), b.privateKey), verifyOptions)).rejects.toThrow(/signature/);
  });

  it('never remembers a key that does not import (a point off the curve), and refuses it every time', async () => {
    const es = await es256Key();
    const offCurve = { ...es.publicJwk, y: base64url.encode(new Uint8Array(32).fill(7)) };
    const before = proofKeyCacheSize();
    for (let i = 0; i < 2; i++) {
      await expect(verifyDpopProof(await proofWith(es, {}, { jwk: offCurve }), verifyOptions)).rejects.toThrow(DpopError);
    }
    expect(proofKeyCacheSize()).toBe(before);
  });

  it('works for Ed25519 keys too, keyed apart from P-256', async () => {
    const ed = await ed25519Key();
    const t = await jwkThumbprint(ed.publicJwk);
    const key = await importProofKey(publicJwkOf(ed.publicJwk), 'EdDSA', t);
    expect(key.algorithm.name).toBe('Ed25519');
    expect((await verifyDpopProof(await proofWith(ed), verifyOptions)).thumbprint).toBe(t);
  });

  it(`stays at ${PROOF_KEY_CACHE_MAX} keys, dropping the least recently used`, async () => {
    const first = await es256Key();
    const firstJwk = publicJwkOf(first.publicJwk);
    const firstId = await jwkThumbprint(firstJwk);
    const kept = await importProofKey(firstJwk, 'ES256', firstId);
    // Fill the cache with one real key under many names (the cache trusts its caller's thumbprint).
    const filler = await es256Key();
    const fillerJwk = publicJwkOf(filler.publicJwk);
    for (let i = 0; i < PROOF_KEY_CACHE_MAX + 10; i++) await importProofKey(fillerJwk, 'ES256', `filler-${i}`);
    expect(proofKeyCacheSize()).toBe(PROOF_KEY_CACHE_MAX);
    expect(await importProofKey(firstJwk, 'ES256', firstId)).not.toBe(kept);
  });
});

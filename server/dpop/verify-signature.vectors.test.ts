// S8/S48: Wycheproof vectors through the exact functions verifyDpopProof uses to check a signature
// (publicJwkOf → importProofKey → verifyProofSignature). The vector files name their source.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { publicJwkOf } from '../../shared/thumbprint';
import { importProofKey, verifyProofSignature, type ProofAlgorithm } from './verify-signature';
import { ed25519Key, es256Key, proofWith, verifyOptions } from './dpop-test-kit';
import { verifyDpopProof } from './verify-dpop';

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface VectorFile {
  source: string;
  testGroups: Array<{ publicKey: { uncompressed?: string; pk?: string }; tests: Vector[] }>;
}

const load = (name: string): VectorFile =>
  JSON.parse(readFileSync(new URL(`../testing/vectors/${name}`, import.meta.url), 'utf8')) as VectorFile;
const hex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

function jwkOf(alg: ProofAlgorithm, key: VectorFile['testGroups'][number]['publicKey']) {
  if (alg === 'ES256') {
    const point = hex(key.uncompressed!);
    expect(point[0]).toBe(4);
    return publicJwkOf({ kty: 'EC', crv: 'P-256', x: b64u(point.slice(1, 33)), y: b64u(point.slice(33, 65)) });
  }
  return publicJwkOf({ kty: 'OKP', crv: 'Ed25519', x: b64u(hex(key.pk!)) });
}

async function run(alg: ProofAlgorithm, file: VectorFile) {
  const outcomes: Array<{ tcId: number; expected: string; accepted: boolean }> = [];
  for (const group of file.testGroups) {
    const key = await importProofKey(alg, jwkOf(alg, group.publicKey));
    for (const test of group.tests) {
      outcomes.push({ tcId: test.tcId, expected: test.result, accepted: await verifyProofSignature(alg, key, hex(test.msg), hex(test.sig)) });
    }
  }
  return outcomes;
}

describe('Wycheproof vectors through the production signature check', () => {
  it.each([
    ['ES256 (ECDSA P-256 SHA-256, P1363)', 'ES256', 'wycheproof-ecdsa-secp256r1-sha256-p1363.json'],
    ['EdDSA (Ed25519)', 'EdDSA', 'wycheproof-ed25519.json'],
  ] as const)('S48 S8 %s: every "valid" vector is accepted and every "invalid" one refused', async (_name, alg, name) => {
    const file = load(name);
    expect(file.source).toMatch(/^C2SP\/wycheproof /);
    const outcomes = await run(alg, file);
    expect(outcomes.filter((o) => o.expected === 'valid').length).toBeGreaterThan(8);
    expect(outcomes.filter((o) => o.expected === 'invalid').length).toBeGreaterThan(20);
    const wrong = outcomes.filter((o) => (o.expected === 'valid') !== o.accepted);
    expect(wrong).toEqual([]);
  });

  it('S8 the signature check refuses wrong lengths before the crypto library sees them, and never throws', async () => {
    const { publicJwk } = await es256Key();
    const key = await importProofKey('ES256', publicJwkOf(publicJwk));
    for (const length of [0, 1, 63, 65, 70, 72, 128, 4096]) {
      await expect(verifyProofSignature('ES256', key, new Uint8Array(8), new Uint8Array(length))).resolves.toBe(false);
    }
  });

  it('S6 a key of the other algorithm is unusable for the signature check', async () => {
    const ed = await ed25519Key();
    const ec = await es256Key();
    await expect(importProofKey('ES256', publicJwkOf(ed.publicJwk))).rejects.toThrow('not a usable public key');
    await expect(importProofKey('EdDSA', publicJwkOf(ec.publicJwk))).rejects.toThrow('not a usable public key');
  });

  it('S48 verifyDpopProof accepts real ES256 and EdDSA proofs through the same functions', async () => {
    for (const key of [await es256Key(), await ed25519Key()]) {
      await expect(verifyDpopProof(await proofWith(key), verifyOptions)).resolves.toMatchObject({ jti: expect.any(String) });
    }
  });
});

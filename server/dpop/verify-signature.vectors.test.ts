// S8/S48: Wycheproof vectors. verifyDpopProof checks signatures with jose (`importJWK` +
// `compactVerify`, SPEC §2), and jose verifies a JWS signing input only, so the vectors' raw
// messages run through the key canonicalisation verifyDpopProof uses (publicJwkOf) and the
// WebCrypto verify jose itself calls for ES256 and EdDSA (same import, same verify parameters).
// verifyDpopProof's own path is covered by the S8 mutations in verify-dpop.test.ts and below.
import { readFileSync } from 'node:fs';
import { importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { publicJwkOf, type PublicJwk } from '../../shared/thumbprint';
import { ed25519Key, es256Key, proofWith, verifyOptions } from './dpop-test-kit';
import { verifyDpopProof } from './verify-dpop';

type ProofAlgorithm = 'ES256' | 'EdDSA' | 'Ed25519';

/** jose's key import; then the WebCrypto verify jose makes for this alg. */
async function importProofKey(alg: ProofAlgorithm, jwk: PublicJwk): Promise<CryptoKey> {
  return (await importJWK({ ...jwk }, alg)) as CryptoKey;
}
async function verifyProofSignature(alg: ProofAlgorithm, key: CryptoKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const params = alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
  return crypto.subtle.verify(params, key, new Uint8Array(signature), new Uint8Array(message)).catch(() => false);
}

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
    ['Ed25519 (its RFC 9864 name)', 'Ed25519', 'wycheproof-ed25519.json'],
  ] as const)('S48 S8 %s: every "valid" vector is accepted and every "invalid" one refused', async (_name, alg, name) => {
    const file = load(name);
    expect(file.source).toMatch(/^C2SP\/wycheproof /);
    const outcomes = await run(alg, file);
    expect(outcomes.filter((o) => o.expected === 'valid').length).toBeGreaterThan(8);
    expect(outcomes.filter((o) => o.expected === 'invalid').length).toBeGreaterThan(20);
    const wrong = outcomes.filter((o) => (o.expected === 'valid') !== o.accepted);
    expect(wrong).toEqual([]);
  });

  it('S48 verifyDpopProof accepts real ES256, EdDSA and Ed25519 proofs', async () => {
    for (const key of [await es256Key(), await ed25519Key(), { ...(await ed25519Key()), alg: 'Ed25519' as const }]) {
      await expect(verifyDpopProof(await proofWith(key), verifyOptions)).resolves.toMatchObject({ jti: expect.any(String) });
    }
  });
});

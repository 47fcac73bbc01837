import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { b64, claims, ed25519Key, es256Key, header, proofWith, signRaw, verifyOptions, type TestKey } from './dpop-test-kit';
import { DpopError, verifyDpopProof } from './verify-dpop';

// Seeded so a failure is reproducible from the printed case number.
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\t,é\u0000\u{1F600}';

function mutate(proof: string, random: () => number): string {
  const int = (n: number) => Math.floor(random() * n);
  const segments = proof.split('.') as [string, string, string];
  switch (int(10)) {
    case 0: {
      const i = int(proof.length);
      return proof.slice(0, i) + CHARS[int(CHARS.length)] + proof.slice(i + 1);
    }
    case 1: {
      // A bit flip inside one decoded segment, re-encoded canonically so only the crypto can catch it.
      const part = int(3);
      const bytes = base64url.decode(segments[part] ?? '');
      const i = int(bytes.length);
      bytes[i] = (bytes[i] ?? 0) ^ (1 << int(8));
      return segments.map((s, j) => (j === part ? base64url.encode(bytes) : s)).join('.');
    }
    case 2:
      return proof.slice(0, int(proof.length));
    case 3:
      return `${proof}.${segments[int(3)]}${random() < 0.5 ? `.${segments[int(3)]}` : ''}`;
    case 4:
      return segments.map((s, j) => (j === int(3) ? `${s}${'='.repeat(1 + int(2))}` : s)).join('.');
    case 5: {
      const i = int(proof.length);
      return proof.slice(0, i) + CHARS[int(CHARS.length)] + proof.slice(i);
    }
    case 6: {
      const i = int(proof.length);
      return proof.slice(0, i) + proof.slice(i + 1 + int(4));
    }
    case 7:
      return [segments[int(3)], segments[int(3)], segments[int(3)]].join('.');
    case 8: {
      const i = int(3);
      const j = int(3);
      const swapped = [...segments];
      [swapped[i], swapped[j]] = [swapped[j] ?? '', swapped[i] ?? ''];
      return swapped.join('.');
    }
    default: {
      const i = int(proof.length);
      return `${proof.slice(0, i)}${proof.slice(i).split('').reverse().join('')}`;
    }
  }
}

async function expectRefused(candidate: string, label: string): Promise<void> {
  const result = await verifyDpopProof(candidate, verifyOptions).then(
    () => 'accepted',
    (error: unknown) => error,
  );
  expect(result, label).toBeInstanceOf(DpopError);
}

describe('verifyDpopProof fuzzing', () => {
  it('S47 refuses 2,000 random mutations of valid proofs, only ever with DpopError', async () => {
    const random = prng(0x9a7e);
    const keys: TestKey[] = [await es256Key(), await ed25519Key()];
    const originals = await Promise.all(keys.map((key) => proofWith(key)));
    for (const original of originals) await expect(verifyDpopProof(original, verifyOptions)).resolves.toBeTruthy();
    let tried = 0;
    while (tried < 2000) {
      const original = originals[tried % originals.length] ?? '';
      const candidate = mutate(original, random);
      if (candidate === original) continue;
      await expectRefused(candidate, `case ${tried}: ${JSON.stringify(candidate.slice(0, 80))}`);
      tried++;
    }
  });

  it('S47 refuses hostile claim values and typ spellings, only ever with DpopError', async () => {
    const key = await es256Key();
    const hostile: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{}, { typ: 'dpop+jwt\u0000' }],
      [{}, { typ: 'ｄｐｏｐ+ｊｗｔ' }],
      [{}, { typ: 'DPOP+JWT\u0301' }],
      [{ iat: -1 }, {}],
      [{ iat: '1' }, {}],
      [{ iat: Number.MAX_SAFE_INTEGER + 2 }, {}],
      [{ htu: `https://env.example:4100/${'a'.repeat(64 * 1024)}` }, {}],
      [{ jti: { toString: 'x' } }, {}],
      [{ htm: { valueOf: 'POST' } }, {}],
    ];
    for (const [claimOverrides, headerOverrides] of hostile) {
      await expectRefused(await proofWith(key, claimOverrides, headerOverrides), JSON.stringify([claimOverrides, headerOverrides]));
    }
    // Deep nesting must be refused by the depth limit, not by a stack overflow.
    const deep = `{"nested":${'['.repeat(1000)}${']'.repeat(1000)},${JSON.stringify(claims()).slice(1)}`;
    await expectRefused(await signRaw(header(key), deep, key.privateKey), 'deep nesting');
  });

  it('S47 round-trips the header and payload of a valid proof through decode and encode', async () => {
    const key = await es256Key();
    const proof = await proofWith(key);
    const [h, p] = proof.split('.') as [string, string, string];
    const decoded = (s: string) => JSON.parse(new TextDecoder().decode(base64url.decode(s))) as unknown;
    expect(b64(JSON.stringify(decoded(h)))).toBe(h);
    expect(b64(JSON.stringify(decoded(p)))).toBe(p);
  });
});

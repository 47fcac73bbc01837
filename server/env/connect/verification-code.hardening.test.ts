// S37: the verification code shown by the client and by every approval surface: 8 symbols of a
// 32-symbol alphabet (40 bits ≥ 34.5), the same string on both sides, derived as SPEC §2 says.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verificationCodeOf } from './client-view';
import { CODE_ALPHABET, verificationCode } from '../../../shared/verification-code';

const FORMAT = new RegExp(`^[${CODE_ALPHABET}]{4}-[${CODE_ALPHABET}]{4}$`);

describe('verification code', () => {
  it('S37 carries 40 bits in 8 unambiguous symbols, and client and server derive the same string', async () => {
    expect(new Set(CODE_ALPHABET).size).toBe(32);
    expect(CODE_ALPHABET).not.toMatch(/[01IO]/);
    expect(8 * Math.log2(CODE_ALPHABET.length)).toBeGreaterThanOrEqual(34.5);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const thumbprint = randomBytes(32).toString('base64url');
      const client = await verificationCode(thumbprint);
      expect(client).toMatch(FORMAT);
      expect(verificationCodeOf(thumbprint)).toBe(client);
      seen.add(client);
    }
    expect(seen.size).toBe(2000);
  });

  it('S37 is the first 40 bits of SHA-256 over the thumbprint, most significant group first', async () => {
    const thumbprint = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    const digest = createHash('sha256').update(thumbprint, 'ascii').digest();
    const bits = [...digest.subarray(0, 5)].map((b) => b.toString(2).padStart(8, '0')).join('');
    const expected = Array.from({ length: 8 }, (_, i) => CODE_ALPHABET[parseInt(bits.slice(i * 5, i * 5 + 5), 2)]).join('');
    expect(await verificationCode(thumbprint)).toBe(`${expected.slice(0, 4)}-${expected.slice(4)}`);
  });
});

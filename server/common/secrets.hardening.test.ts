// S49: secrets are compared in constant time. The admin token goes through secretsEqual (SHA-256 of
// both sides, then timingSafeEqual), a DPoP `ath` through timingSafeEqual; every other secret
// (login codes, owner and client session tokens, credentials) is only ever looked up by its SHA-256
// hash, so no comparison touches the secret itself. Thumbprints are public and compared plainly.
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const { secretsEqual } = await import('./secrets');
const { checkAdminToken } = await import('../env/owner/owner-auth.service');
const { verifyDpopProof } = await import('../dpop/verify-dpop');
const { es256Key, ENDPOINT, NOW } = await import('../dpop/dpop-test-kit');
const { createDpopProof } = await import('../../shared/dpop');

const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);

describe('constant-time comparison of secrets', () => {
  it('S49 secretsEqual is exact for equal, different, prefix and different-length inputs', () => {
    const token = crypto.randomBytes(32).toString('base64url');
    expect(secretsEqual(token, token)).toBe(true);
    expect(secretsEqual(token, `${token.slice(0, -1)}${token.at(-1) === 'A' ? 'B' : 'A'}`)).toBe(false);
    expect(secretsEqual(token, token.slice(0, -1))).toBe(false);
    expect(secretsEqual(token, `${token}x`)).toBe(false);
    expect(secretsEqual('', '')).toBe(true);
    expect(secretsEqual('', token)).toBe(false);
  });

  it('S49 the admin token check runs through timingSafeEqual on fixed-length digests, whatever the presented length', () => {
    const token = crypto.randomBytes(32).toString('base64url');
    for (const presented of [token, 'x', token.slice(0, 20), `${token}${token}`]) {
      timingSafeEqual.mockClear();
      checkAdminToken(token, presented);
      expect(timingSafeEqual).toHaveBeenCalledTimes(1);
      const [a, b] = timingSafeEqual.mock.calls[0]!;
      expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
    }
    expect(checkAdminToken(token, token)).toMatchObject({ via: 'admin-token' });
    expect(checkAdminToken(token, token.slice(0, -1))).toBeNull();
  });

  it('S49 S21 the DPoP ath (bound to a secret access token) is compared with timingSafeEqual', async () => {
    const key = await es256Key();
    const proof = await createDpopProof(key.signer, { htm: 'POST', htu: ENDPOINT, accessToken: 'the-access-token', now: NOW });
    timingSafeEqual.mockClear();
    await expect(verifyDpopProof(proof, { method: 'POST', url: ENDPOINT, now: NOW, accessToken: 'the-access-token' })).resolves.toBeTruthy();
    expect(timingSafeEqual).toHaveBeenCalled();
    await expect(verifyDpopProof(proof, { method: 'POST', url: ENDPOINT, now: NOW, accessToken: 'another-token' })).rejects.toThrow(/ath/);
  });
});

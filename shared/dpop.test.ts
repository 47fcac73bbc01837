import { createHash } from 'node:crypto';
import { base64url, calculateJwkThumbprint, compactVerify, decodeProtectedHeader, EmbeddedJWK, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { accessTokenHash, createDpopProof, createDpopSigner, generateDpopKeyPair, htuOf } from './dpop';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0, 789);

function decodePayload(proof: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(proof.split('.')[1] ?? ''))) as Record<string, unknown>;
}

describe('generateDpopKeyPair / createDpopSigner', () => {
  it('makes a P-256 pair whose private key stays inside WebCrypto when not extractable', async () => {
    const pair = await generateDpopKeyPair(false);
    expect(pair.privateKey.extractable).toBe(false);
    expect(pair.privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    await expect(crypto.subtle.exportKey('jwk', pair.privateKey)).rejects.toThrow();
    const signer = await createDpopSigner(pair);
    expect(Object.keys(signer.publicJwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(signer.thumbprint).toBe(await calculateJwkThumbprint(signer.publicJwk, 'sha256'));
  });

  it('S7 exports only public members even from an extractable pair', async () => {
    const pair = await generateDpopKeyPair(true);
    const signer = await createDpopSigner(pair);
    expect((await exportJWK(pair.privateKey)).d).toBeTypeOf('string');
    expect(signer.publicJwk).not.toHaveProperty('d');
    expect(signer.publicJwk).not.toHaveProperty('ext');
    expect(signer.publicJwk).not.toHaveProperty('key_ops');
  });

  it('refuses a key pair that is not ECDSA P-256', async () => {
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
    await expect(createDpopSigner(p384)).rejects.toThrow(/P-256/);
    const p256 = await generateDpopKeyPair(false);
    await expect(createDpopSigner({ privateKey: p256.publicKey, publicKey: p256.privateKey })).rejects.toThrow(/P-256/);
  });
});

describe('createDpopProof', () => {
  it('S3 S4 S7 signs typ dpop+jwt, ES256, with the public jwk only, verifiable with the embedded key', async () => {
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const proof = await createDpopProof(signer, { htm: 'POST', htu: 'https://env.example/oauth/token', now: NOW });
    const header = decodeProtectedHeader(proof);
    expect(header).toEqual({ alg: 'ES256', typ: 'dpop+jwt', jwk: signer.publicJwk });
    const { payload } = await compactVerify(proof, EmbeddedJWK, { algorithms: ['ES256'] });
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    expect(claims).toEqual({
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      htm: 'POST',
      htu: 'https://env.example/oauth/token',
      iat: Math.floor(NOW / 1000),
    });
  });

  it('S11 strips query and fragment from htu', async () => {
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const proof = await createDpopProof(signer, { htm: 'GET', htu: 'https://env.example/trpc/client.whoami?input=%7B%7D#x', now: NOW });
    expect(decodePayload(proof).htu).toBe('https://env.example/trpc/client.whoami');
    expect(htuOf('https://env.example/p?')).toBe('https://env.example/p');
  });

  it('S15 uses a fresh 128-bit jti per proof unless one is given', async () => {
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const jtis = new Set<unknown>();
    for (let i = 0; i < 50; i++) {
      jtis.add(decodePayload(await createDpopProof(signer, { htm: 'POST', htu: 'https://e/x', now: NOW })).jti);
    }
    expect(jtis.size).toBe(50);
    const fixed = await createDpopProof(signer, { htm: 'POST', htu: 'https://e/x', now: NOW, jti: 'fixed-jti-0123456789' });
    expect(decodePayload(fixed).jti).toBe('fixed-jti-0123456789');
  });

  it('S21 binds the proof to an access token with ath = base64url(SHA-256(token)), and carries a nonce', async () => {
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const token = 'access-token-value';
    const proof = await createDpopProof(signer, { htm: 'POST', htu: 'https://e/x', accessToken: token, nonce: 'n-1', now: NOW });
    const expected = createHash('sha256').update(token).digest('base64url');
    expect(decodePayload(proof)).toMatchObject({ ath: expected, nonce: 'n-1' });
    expect(await accessTokenHash(token)).toBe(expected);
    expect(decodePayload(await createDpopProof(signer, { htm: 'POST', htu: 'https://e/x' }))).not.toHaveProperty('ath');
  });
});

import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidJwkError, jwkThumbprint, publicJwkOf } from './thumbprint';

// panva/jose test/jwk/thumbprint.test.ts "EC JWK" and "OKP JWK"; RFC 8037 App. A.3.
const JOSE_EC = {
  crv: 'P-256',
  kty: 'EC',
  x: 'q3zAwR_kUwtdLEwtB2oVfucXiLHmEhu9bJUFYjJxYGs',
  y: '8h0D-ONoU-iZqrq28TyUxEULxuGwJZGMJYTMbeMshvI',
};
const JOSE_OKP = { crv: 'Ed25519', kty: 'OKP', x: '5fL1GDeyNTIxtuzTeFnvZTo4Oz0EkMfAdhIJA-EFn0w' };
const RFC8037_OKP = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };

/** The same bytes spelled differently: the last character's unused low bits set. */
function trailingBitVariant(b64: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(b64.at(-1) ?? '');
  return b64.slice(0, -1) + alphabet[last | 1];
}

describe('jwkThumbprint', () => {
  it('S22 reproduces the RFC 7638 §3.1 vector (an RSA key, so checked through jose directly: ours accepts EC/OKP only)', async () => {
    const rfc7638 = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(await calculateJwkThumbprint(rfc7638, 'sha256')).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    await expect(jwkThumbprint(rfc7638)).rejects.toBeInstanceOf(InvalidJwkError);
  });

  it("S22 reproduces jose's EC P-256 vector", async () => {
    expect(await jwkThumbprint(JOSE_EC)).toBe('ZrBaai73Hi8Fg4MElvDGzIne2NsbI75RHubOViHYE5Q');
  });

  it("S22 reproduces jose's OKP vector and RFC 8037 App. A.3", async () => {
    expect(await jwkThumbprint(JOSE_OKP)).toBe('1OzNmMHhNzbSJyoePAtdoVedRZlFvER3K3RAzCrfX0k');
    expect(await jwkThumbprint(RFC8037_OKP)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('S22 ignores alg, kid, use, ext, key_ops and private members', async () => {
    const extras = { alg: 'ES256', kid: 'k1', use: 'sig', ext: true, key_ops: ['verify'], d: 'AAAA' };
    expect(await jwkThumbprint({ ...JOSE_EC, ...extras })).toBe(await jwkThumbprint(JOSE_EC));
    expect(await jwkThumbprint({ ...RFC8037_OKP, ...extras, alg: 'EdDSA' })).toBe(
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
    );
  });

  it('S22 matches jose for freshly generated keys', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const { publicKey } = await generateKeyPair(alg);
      const jwk = await exportJWK(publicKey);
      expect(await jwkThumbprint(jwk)).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
      expect(await jwkThumbprint(jwk)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it('S24 refuses a trailing-bit variant that jose alone would give a second thumbprint', async () => {
    const variant = { ...RFC8037_OKP, x: trailingBitVariant(RFC8037_OKP.x) };
    expect(base64url.decode(variant.x)).toEqual(base64url.decode(RFC8037_OKP.x));
    expect(await calculateJwkThumbprint(variant)).not.toBe(await calculateJwkThumbprint(RFC8037_OKP));
    await expect(jwkThumbprint(variant)).rejects.toBeInstanceOf(InvalidJwkError);
    await expect(jwkThumbprint({ ...JOSE_EC, x: trailingBitVariant(JOSE_EC.x) })).rejects.toThrow(/canonical/);
    await expect(jwkThumbprint({ ...JOSE_EC, y: trailingBitVariant(JOSE_EC.y) })).rejects.toThrow(/canonical/);
  });

  it('S24 refuses padding, standard base64, whitespace and wrong lengths', async () => {
    const x = JOSE_EC.x;
    const bad = [
      `${x}=`,
      x.replace(/_/g, '/').replace(/-/g, '+'),
      ` ${x}`,
      `${x}\n`,
      x.slice(0, 42),
      `${x}A`,
      base64url.encode(new Uint8Array(31)),
      base64url.encode(new Uint8Array(33)),
      `00${base64url.encode(new Uint8Array(32))}`,
      '',
    ];
    for (const value of bad) {
      await expect(jwkThumbprint({ ...JOSE_EC, x: value }), JSON.stringify(value)).rejects.toBeInstanceOf(
        InvalidJwkError,
      );
      await expect(jwkThumbprint({ ...RFC8037_OKP, x: value }), JSON.stringify(value)).rejects.toBeInstanceOf(
        InvalidJwkError,
      );
    }
  });

  it('refuses other key types, curves and non-objects', async () => {
    const bad: unknown[] = [
      null,
      [],
      'foo',
      1,
      { ...JOSE_EC, crv: 'P-384' },
      { ...JOSE_EC, kty: 'OKP' },
      { ...RFC8037_OKP, crv: 'Ed448' },
      { ...RFC8037_OKP, crv: 'X25519' },
      { kty: 'oct', k: 'FyCq1CKBflh3I5gikEjpYrdOXllzxB_yc02za8ERknI' },
      { kty: 'EC', crv: 'P-256', x: JOSE_EC.x },
      { kty: 'EC', crv: 'P-256', x: 1, y: JOSE_EC.y },
    ];
    for (const jwk of bad) {
      await expect(jwkThumbprint(jwk), JSON.stringify(jwk)).rejects.toBeInstanceOf(InvalidJwkError);
    }
  });
});

describe('publicJwkOf', () => {
  it('S7 keeps only the public members of a private key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    expect(privateJwk.d).toBeTypeOf('string');
    const pub = publicJwkOf({ ...privateJwk, kid: 'x', alg: 'ES256' });
    expect(Object.keys(pub).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(pub).toEqual({ kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y });
    expect(publicJwkOf({ ...RFC8037_OKP, d: 'secret', y: 'ignored' })).toEqual(RFC8037_OKP);
  });
});

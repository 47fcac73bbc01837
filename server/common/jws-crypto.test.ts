// node:crypto JWS signatures and JWT claim rules, tried against jose as the reference and broken
// every way a token can be: tampered, wrong key, wrong key type/curve/size, re-encoded signature.
import { createPrivateKey, generateKeyPairSync, KeyObject, sign as nodeSign, type KeyObject as KeyObjectType } from 'node:crypto';
import { compactVerify, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { checkJwtClaims, JwtClaimError, keyObjectOf, publicKeyFromJwk, signJws, signJwsAsync, verifyJwsSignature as verifySync, verifyJwsSignatureAsync, type JwsAlgorithm } from './jws-crypto';

/** Both forms, which must agree on every token (the servers use the thread-pool one). */
const seen: Array<Promise<void>> = [];
function verifyJwsSignature(token: string, alg: JwsAlgorithm, key: KeyObjectType): boolean {
  const sync = verifySync(token, alg, key);
  seen.push(verifyJwsSignatureAsync(token, alg, key).then((async) => expect(async).toBe(sync)));
  return sync;
}
afterEach(async () => {
  await Promise.all(seen.splice(0));
});

const b64 = (text: string) => Buffer.from(text).toString('base64url');

const ALGS: JwsAlgorithm[] = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

function nodePair(alg: JwsAlgorithm, rsaBits = 2048): { publicKey: KeyObjectType; privateKey: KeyObjectType } {
  if (alg === 'EdDSA' || alg === 'Ed25519') return generateKeyPairSync('ed25519');
  if (alg.startsWith('ES')) return generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] });
  return generateKeyPairSync('rsa', { modulusLength: rsaBits });
}

/** jose's name for the algorithm when it signs (jose 6 signs Ed25519 as "Ed25519" or "EdDSA" alike). */
async function joseSigned(alg: JwsAlgorithm, privateKey: KeyObjectType, payload: Record<string, unknown> = { sub: 'a' }): Promise<string> {
  const key = await importJWK(privateKey.export({ format: 'jwk' }) as never, alg);
  return new SignJWT(payload).setProtectedHeader({ alg }).sign(key as CryptoKey);
}

describe('verifyJwsSignature', () => {
  it.each(ALGS)('%s: accepts what jose signs, and jose accepts what signJws signs', async (alg) => {
    const { publicKey, privateKey } = nodePair(alg);
    const fromJose = await joseSigned(alg, privateKey);
    expect(verifyJwsSignature(fromJose, alg, publicKey)).toBe(true);
    const joseKey = await importJWK(publicKey.export({ format: 'jwk' }) as never, alg);
    for (const ours of [signJws({ alg, typ: 'JWT' }, { sub: 'b', n: 1 }, privateKey), await signJwsAsync({ alg, typ: 'JWT' }, { sub: 'b', n: 1 }, privateKey)]) {
      const { payload } = await compactVerify(ours, joseKey as CryptoKey, { algorithms: [alg] });
      expect(JSON.parse(Buffer.from(payload).toString())).toEqual({ sub: 'b', n: 1 });
    }
  });

  it.each(ALGS)('%s: refuses a tampered header, payload or signature, and another key', async (alg) => {
    const { publicKey, privateKey } = nodePair(alg);
    const token = signJws({ alg }, { sub: 'owner' }, privateKey);
    const [h, p, s] = token.split('.') as [string, string, string];
    expect(verifyJwsSignature(`${b64(JSON.stringify({ alg, typ: 'x' }))}.${p}.${s}`, alg, publicKey)).toBe(false);
    expect(verifyJwsSignature(`${h}.${b64('{"sub":"other"}')}.${s}`, alg, publicKey)).toBe(false);
    const sig = Buffer.from(s, 'base64url');
    sig[sig.length >> 1]! ^= 1;
    expect(verifyJwsSignature(`${h}.${p}.${sig.toString('base64url')}`, alg, publicKey)).toBe(false);
    expect(verifyJwsSignature(token, alg, nodePair(alg).publicKey)).toBe(false);
  });

  it('refuses a key of the wrong type, curve or size for the algorithm, and private keys', () => {
    const ed = nodePair('EdDSA');
    const p256 = nodePair('ES256');
    const p384 = nodePair('ES384');
    const token = signJws({ alg: 'ES256' }, { sub: 'a' }, p256.privateKey);
    expect(verifyJwsSignature(token, 'ES256', p256.publicKey)).toBe(true);
    expect(verifyJwsSignature(token, 'ES256', p384.publicKey)).toBe(false);
    expect(verifyJwsSignature(token, 'ES256', ed.publicKey)).toBe(false);
    expect(verifyJwsSignature(token, 'ES256', p256.privateKey)).toBe(false);
    expect(verifyJwsSignature(token, 'EdDSA', p256.publicKey)).toBe(false);
    // An RSA key under 2048 bits signs, but its signatures are not accepted.
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weak = `${b64('{"alg":"RS256"}')}.${b64('{}')}`;
    const weakSig = nodeSign('sha256', Buffer.from(weak), short.privateKey).toString('base64url');
    expect(verifyJwsSignature(`${weak}.${weakSig}`, 'RS256', short.publicKey)).toBe(false);
    expect(() => signJws({ alg: 'RS256' }, {}, short.privateKey)).toThrow(TypeError);
    expect(() => signJws({ alg: 'EdDSA' }, {}, p256.privateKey)).toThrow(TypeError);
    expect(() => signJws({ alg: 'EdDSA' }, {}, ed.publicKey)).toThrow(TypeError);
    expect(() => signJwsAsync({ alg: 'EdDSA' }, {}, p256.privateKey)).toThrow(TypeError);
  });

  it('refuses an ECDSA signature in DER form, a non-canonical or empty signature, and a token not in three segments', () => {
    const { publicKey, privateKey } = nodePair('ES256');
    const input = `${b64('{"alg":"ES256"}')}.${b64('{"sub":"a"}')}`;
    const der = nodeSign('sha256', Buffer.from(input), privateKey).toString('base64url');
    expect(verifyJwsSignature(`${input}.${der}`, 'ES256', publicKey)).toBe(false);
    const raw = nodeSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    expect(verifyJwsSignature(`${input}.${raw}`, 'ES256', publicKey)).toBe(true);
    // 64 bytes encode to 86 characters, the last carrying 4 unused bits: setting one is another spelling.
    const last = raw.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = raw.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1];
    if (respelled !== raw) expect(verifyJwsSignature(`${input}.${respelled}`, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(`${input}.${raw}=`, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(`${input}.`, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(`${input}.${raw}.${raw}`, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(`${raw}`, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(`.${input}.${raw}`, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(42 as unknown as string, 'ES256', publicKey)).toBe(false);
    expect(verifyJwsSignature(`${input}.${raw}`, 'HS256' as JwsAlgorithm, publicKey)).toBe(false);
    expect(verifyJwsSignature(`${input}.${raw}`, 'ES256', {} as KeyObject)).toBe(false);
  });

  it('a CryptoKey works through keyObjectOf, converted once', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA');
    const token = signJws({ alg: 'EdDSA' }, { sub: 'a' }, privateKey);
    expect(verifyJwsSignature(token, 'EdDSA', keyObjectOf(publicKey))).toBe(true);
    expect(keyObjectOf(publicKey)).toBe(keyObjectOf(publicKey));
  });
});

describe('publicKeyFromJwk', () => {
  it('imports public EC, OKP and RSA keys for their algorithm only', async () => {
    const ec = await exportJWK(nodePair('ES256').publicKey);
    const ed = await exportJWK(nodePair('EdDSA').publicKey);
    const rsa = await exportJWK(nodePair('RS256').publicKey);
    expect(publicKeyFromJwk(ec, 'ES256')?.asymmetricKeyType).toBe('ec');
    expect(publicKeyFromJwk(ed, 'EdDSA')?.asymmetricKeyType).toBe('ed25519');
    expect(publicKeyFromJwk(rsa, 'PS256')?.asymmetricKeyType).toBe('rsa');
    expect(publicKeyFromJwk(ec, 'ES384')).toBeUndefined();
    expect(publicKeyFromJwk(ec, 'EdDSA')).toBeUndefined();
    expect(publicKeyFromJwk(ed, 'ES256')).toBeUndefined();
  });

  it('refuses private members, a point off the curve, wrong lengths and junk', async () => {
    const pair = nodePair('ES256');
    const priv = pair.privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    expect(publicKeyFromJwk(priv, 'ES256')).toBeUndefined();
    const pub = (await exportJWK(pair.publicKey)) as Record<string, string>;
    const y = Buffer.from(pub.y!, 'base64url');
    y[31]! ^= 1;
    expect(publicKeyFromJwk({ ...pub, y: y.toString('base64url') }, 'ES256')).toBeUndefined();
    expect(publicKeyFromJwk({ ...pub, x: pub.x!.slice(2) }, 'ES256')).toBeUndefined();
    expect(publicKeyFromJwk({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }, 'EdDSA')).toBeUndefined();
    expect(publicKeyFromJwk({ kty: 'oct', k: 'c2VjcmV0' }, 'ES256')).toBeUndefined();
    expect(publicKeyFromJwk({}, 'ES256')).toBeUndefined();
    const rsaPriv = createPrivateKey(nodePair('RS256').privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(publicKeyFromJwk(rsaPriv.export({ format: 'jwk' }) as Record<string, unknown>, 'RS256')).toBeUndefined();
  });
});

describe('checkJwtClaims', () => {
  const now = 1_800_000_000_000;
  const nowS = now / 1000;
  const rules = { issuer: 'https://iss', audience: 'https://aud', now, clockToleranceSeconds: 60, required: ['sub', 'exp'] };
  const refusal = (payload: Record<string, unknown>) => {
    try {
      checkJwtClaims(payload, rules);
    } catch (error) {
      expect(error).toBeInstanceOf(JwtClaimError);
      return { claim: (error as JwtClaimError).claim, expired: (error as JwtClaimError).expired };
    }
    return undefined;
  };
  const good = { iss: 'https://iss', aud: 'https://aud', sub: 's', exp: nowS + 10, iat: nowS };

  it('accepts a good token, an audience array holding ours, and the edges of the tolerance', () => {
    expect(refusal(good)).toBeUndefined();
    expect(refusal({ ...good, aud: ['x', 'https://aud'] })).toBeUndefined();
    expect(refusal({ ...good, exp: nowS - 59 })).toBeUndefined();
    expect(refusal({ ...good, nbf: nowS + 60 })).toBeUndefined();
  });

  it('refuses a missing claim, another issuer or audience, an expired or not-yet-valid token, non-numeric dates', () => {
    expect(refusal({ ...good, sub: undefined })).toEqual({ claim: 'sub', expired: false });
    const { exp: _exp, ...noExp } = good;
    expect(refusal(noExp)).toEqual({ claim: 'exp', expired: false });
    expect(refusal({ ...good, iss: 'https://iss/' })).toEqual({ claim: 'iss', expired: false });
    expect(refusal({ ...good, iss: undefined })).toEqual({ claim: 'iss', expired: false });
    expect(refusal({ ...good, aud: 'https://other' })).toEqual({ claim: 'aud', expired: false });
    expect(refusal({ ...good, aud: ['https://other'] })).toEqual({ claim: 'aud', expired: false });
    expect(refusal({ ...good, aud: { 0: 'https://aud' } })).toEqual({ claim: 'aud', expired: false });
    expect(refusal({ ...good, exp: nowS - 60 })).toEqual({ claim: 'exp', expired: true });
    expect(refusal({ ...good, nbf: nowS + 61 })).toEqual({ claim: 'nbf', expired: false });
    expect(refusal({ ...good, exp: String(nowS + 10) })).toEqual({ claim: 'exp', expired: false });
    expect(refusal({ ...good, iat: 'now' })).toEqual({ claim: 'iat', expired: false });
    expect(refusal({ ...good, nbf: null })).toEqual({ claim: 'nbf', expired: false });
    expect(refusal({ ...good, exp: Number.POSITIVE_INFINITY })).toEqual({ claim: 'exp', expired: false });
  });
});

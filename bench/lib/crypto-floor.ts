// The relay's physical floor for one full connect (issue 20 item 4): the signature work it cannot
// skip, measured alone with the same library calls the product makes (jose with WebCrypto keys, as server/dpop/proof-key-cache.ts imports them),
// 64 in flight, as CPU time of this process (the crypto runs on libuv's pool: its threads count).
//
// A full connect at the relay is a token exchange and a connect:
//   token exchange   import the client's new P-256 key, verify its ES256 DPoP proof,
//                    verify the EdDSA ID token, sign the EdDSA access token;
//   connect          verify the EdDSA access token, verify the ES256 DPoP proof (same key),
//                    sign the EdDSA mint request, verify the environment's EdDSA mint answer.
// Floor = 1 P-256 import + 2 ES256 verify + 3 EdDSA verify + 2 EdDSA sign (hashes are µs: left out).
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { keyObjectOf, publicKeyFromJwk, signJws, verifyJwsSignature } from '../../server/common/jws-crypto';

const IN_FLIGHT = 64;

export interface CryptoFloor {
  /** CPU µs per operation. */
  importP256: number;
  verifyEs256: number;
  verifyEdDsa: number;
  signEdDsa: number;
  /** CPU µs of one full connect's crypto: the sum above with its counts. */
  floorUs: number;
}

async function cpuPerOp(count: number, op: (i: number) => Promise<unknown> | unknown): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < count) await op(next++);
  };
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / count;
}

/** Builds `count` distinct P-256 keys and proofs first (untimed), then times each operation kind. */
export async function measureCryptoFloor(count: number): Promise<CryptoFloor> {
  const es = await Promise.all(
    Array.from({ length: count }, async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = await exportJWK(publicKey);
      const proof = await new SignJWT({ jti: crypto.randomUUID(), htm: 'POST', htu: 'http://127.0.0.1/oauth/token', iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
      return { jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, proof };
    }),
  );
  const ed = await generateKeyPair('EdDSA', { extractable: true });
  const edPrivate = keyObjectOf(ed.privateKey);
  const edPublic = keyObjectOf(ed.publicKey);
  const claims = { iss: 'http://127.0.0.1/issuer', aud: 'http://127.0.0.1', sub: 'owner', scope: 'environment:connect' };
  const sign = () => {
    const iat = Math.floor(Date.now() / 1000);
    return signJws({ alg: 'EdDSA', typ: 'JWT' }, { ...claims, jti: crypto.randomUUID(), iat, exp: iat + 600 }, edPrivate);
  };
  const tokens = Array.from({ length: count }, sign);
  const importKey = (i: number) => {
    const key = publicKeyFromJwk(es[i]!.jwk, 'ES256');
    if (!key) throw new Error('floor key did not import');
    return key;
  };
  const keys = es.map((_, i) => importKey(i));
  const check = (ok: boolean) => {
    if (!ok) throw new Error('floor signature did not verify');
  };
  // Warm the JIT on a few of each, as the server is warm.
  for (let i = 0; i < Math.min(32, count); i++) {
    importKey(i);
    check(verifyJwsSignature(es[i]!.proof, 'ES256', keys[i]!));
    check(verifyJwsSignature(tokens[i]!, 'EdDSA', edPublic));
    sign();
  }
  const importP256 = await cpuPerOp(count, importKey);
  const verifyEs256 = await cpuPerOp(count, (i) => check(verifyJwsSignature(es[i]!.proof, 'ES256', keys[i]!)));
  const verifyEdDsa = await cpuPerOp(count, (i) => check(verifyJwsSignature(tokens[i]!, 'EdDSA', edPublic)));
  const signEdDsa = await cpuPerOp(count, () => sign());
  return { importP256, verifyEs256, verifyEdDsa, signEdDsa, floorUs: importP256 + 2 * verifyEs256 + 3 * verifyEdDsa + 2 * signEdDsa };
}

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
import { compactVerify, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';

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
  const claims = { iss: 'http://127.0.0.1/issuer', aud: 'http://127.0.0.1', sub: 'owner', scope: 'environment:connect' };
  const sign = () => new SignJWT({ ...claims, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).setIssuedAt().setExpirationTime('10m').sign(ed.privateKey);
  const tokens = await Promise.all(Array.from({ length: count }, sign));
  const keys = await Promise.all(es.map((e) => importJWK(e.jwk, 'ES256')));
  // Warm the JIT on a few of each, as the server is warm.
  for (let i = 0; i < Math.min(32, count); i++) {
    await importJWK(es[i]!.jwk, 'ES256');
    await compactVerify(es[i]!.proof, keys[i]!, { algorithms: ['ES256'] });
    await jwtVerify(tokens[i]!, ed.publicKey, { algorithms: ['EdDSA'] });
    await sign();
  }
  const importP256 = await cpuPerOp(count, (i) => importJWK(es[i]!.jwk, 'ES256'));
  const verifyEs256 = await cpuPerOp(count, (i) => compactVerify(es[i]!.proof, keys[i]!, { algorithms: ['ES256'] }));
  const verifyEdDsa = await cpuPerOp(count, (i) => jwtVerify(tokens[i]!, ed.publicKey, { algorithms: ['EdDSA'], issuer: claims.iss, audience: claims.aud }));
  const signEdDsa = await cpuPerOp(count, () => sign());
  return { importP256, verifyEs256, verifyEdDsa, signEdDsa, floorUs: importP256 + 2 * verifyEs256 + 3 * verifyEdDsa + 2 * signEdDsa };
}

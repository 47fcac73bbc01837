// The CLI client's DPoP key: a P-256 JWK file, mode 0600, created on first use.
import { existsSync, readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { writeSecretFile } from '../common/files';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../shared/dpop';

export async function loadOrCreateClientKey(file: string): Promise<{ signer: DpopSigner; created: boolean }> {
  if (existsSync(file)) {
    let jwk: JsonWebKey;
    try {
      jwk = JSON.parse(readFileSync(file, 'utf8')) as JsonWebKey;
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new Error('not a P-256 private key');
    } catch (error) {
      throw new Error(`The client key file ${file} is unreadable (${(error as Error).message}). Move it aside to create a new key; the new key will need approval again.`);
    }
    const { d: _d, ...pub } = jwk;
    const privateKey = await webcrypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const publicKey = await webcrypto.subtle.importKey('jwk', { ...pub, key_ops: ['verify'] }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    return { signer: await createDpopSigner({ privateKey, publicKey } as CryptoKeyPair), created: false };
  }
  await writeNewClientKey(file);
  return loadOrCreateClientKey(file).then((r) => ({ ...r, created: true }));
}

/** A fresh P-256 key written to `file` (mode 0600). */
export async function writeNewClientKey(file: string): Promise<void> {
  const pair = await generateDpopKeyPair(true);
  const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey as webcrypto.CryptoKey);
  writeSecretFile(file, `${JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d })}\n`);
}

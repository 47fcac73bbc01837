import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/** The dev issuer's Ed25519 signing key: the private half stays here, the public JWK is published. */
export interface DevIssuerKey {
  privateKey: CryptoKey;
  publicJwk: JWK & { kid: string; alg: 'EdDSA'; use: 'sig' };
  /** The same key as a private JWK, for the embedded OpenID provider's key store. */
  privateJwk: JWK & { kid: string; alg: 'EdDSA'; use: 'sig' };
  kid: string;
}

/** Loads the key from `keyFile` (creating it, 0600 in a 0700 directory, on first use) or makes one in memory. */
export async function loadOrCreateDevIssuerKey(keyFile?: string): Promise<DevIssuerKey> {
  if (!keyFile) {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    return fromPrivateJwk(await exportJWK(privateKey), '(in memory)');
  }
  const existing = await readKeyFile(keyFile);
  if (existing) return fromPrivateJwk(existing, keyFile);
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const created = await exportJWK(privateKey);
  // Another process may create the file at the same moment; whoever links first wins and both use that key.
  const winner = (await writeKeyFileExclusively(keyFile, created)) ? created : await readKeyFile(keyFile);
  if (!winner) throw new Error(`Dev issuer key file ${keyFile} disappeared while it was being created.`);
  return fromPrivateJwk(winner, keyFile);
}

async function describe(privateKey: CryptoKey, publicJwk: JWK, d: string): Promise<DevIssuerKey> {
  const { kty, crv, x } = publicJwk;
  const kid = await calculateJwkThumbprint({ kty, crv, x });
  return { privateKey, kid, publicJwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' }, privateJwk: { kty, crv, x, d, kid, alg: 'EdDSA', use: 'sig' } };
}

async function fromPrivateJwk(jwk: JWK, keyFile: string): Promise<DevIssuerKey> {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new Error(`Dev issuer key file ${keyFile} does not hold an Ed25519 private JWK.`);
  }
  const privateKey = await importJWK({ kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, 'EdDSA');
  if (!(privateKey instanceof CryptoKey)) throw new Error(`Dev issuer key file ${keyFile} could not be imported.`);
  return describe(privateKey, { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, jwk.d);
}

async function readKeyFile(keyFile: string): Promise<JWK | null> {
  let text: string;
  try {
    // Like ssh: a signing key others can read is not trusted, rather than silently tightened.
    const info = await stat(keyFile);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new Error(`Dev issuer key file ${keyFile} is accessible by other users; run: chmod 600 ${keyFile}`);
    }
    text = await readFile(keyFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return JSON.parse(text) as JWK;
  } catch {
    throw new Error(`Dev issuer key file ${keyFile} is not valid JSON.`);
  }
}

/** Writes to a private temp file, then hard-links it into place: atomic, and never overwrites. */
async function writeKeyFileExclusively(keyFile: string, jwk: JWK): Promise<boolean> {
  const dir = dirname(keyFile);
  // Only a directory we create is tightened (umask may widen mkdir's mode); an existing one is the owner's choice.
  if (await mkdir(dir, { recursive: true, mode: 0o700 })) await chmod(dir, 0o700);
  const tmp = `${keyFile}.${process.pid}.${randomUUID()}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(jwk)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, keyFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(tmp);
  }
}

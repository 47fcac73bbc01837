// The server's Ed25519 signing key on disk: created once (0600 in a 0700 directory), never silently replaced.
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { jwkThumbprint } from '../../shared/thumbprint';

export interface SigningKey {
  privateKey: CryptoKey | KeyObject;
  /** Ed25519 OKP public key with `kid` = its RFC 7638 thumbprint and `alg` EdDSA. */
  publicJwk: JWK;
  kid: string;
}

export class SigningKeyFileError extends Error {
  constructor(file: string, problem: string) {
    super(`signing key file ${file} ${problem}; refusing to start rather than replace it`);
    this.name = 'SigningKeyFileError';
  }
}

// The DER header of a PKCS#8 Ed25519 private key (RFC 8410); the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const errorCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;

async function fromPrivateJwk(file: string, jwk: unknown): Promise<SigningKey> {
  const candidate = jwk as Record<string, unknown>;
  if (
    typeof jwk !== 'object' || jwk === null || candidate.kty !== 'OKP' || candidate.crv !== 'Ed25519' ||
    typeof candidate.d !== 'string' || typeof candidate.x !== 'string'
  ) {
    throw new SigningKeyFileError(file, 'is not an Ed25519 private JWK');
  }
  let x: string;
  try {
    // Derive the public half from `d` alone so a file whose x and d disagree cannot sign under the wrong
    // kid (and is named as such: Node 24 refuses such a JWK outright, Node 20 ignores its x).
    const seed = Buffer.from(candidate.d, 'base64url');
    if (seed.length !== 32 || seed.toString('base64url') !== candidate.d) throw new Error('not a 32-byte seed');
    const derived = createPublicKey(createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
    x = String(derived.export({ format: 'jwk' }).x);
  } catch {
    throw new SigningKeyFileError(file, 'holds an unusable Ed25519 key');
  }
  if (x !== candidate.x) throw new SigningKeyFileError(file, 'holds a private key that does not match its public key');
  const kid = await jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x });
  const privateJwk = { kty: 'OKP', crv: 'Ed25519', x, d: candidate.d };
  const privateKey = await importJWK(privateJwk, 'EdDSA', { extractable: false });
  if (privateKey instanceof Uint8Array) throw new SigningKeyFileError(file, 'holds an unusable Ed25519 key');
  return { privateKey, publicJwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }, kid };
}

async function load(file: string): Promise<SigningKey | undefined> {
  let stats;
  try {
    stats = await stat(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw new SigningKeyFileError(file, `cannot be inspected (${errorCode(error) ?? 'unknown error'})`);
  }
  if (!stats.isFile()) throw new SigningKeyFileError(file, 'is not a regular file');
  // Like ssh: a private key others could read may already be copied, so it is not quietly trusted.
  if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8);
    throw new SigningKeyFileError(file, `is readable by other users (mode ${mode}; expected 600)`);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SigningKeyFileError(file, `cannot be read (${errorCode(error) ?? 'unknown error'})`);
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new SigningKeyFileError(file, 'is corrupt (not JSON)');
  }
  return fromPrivateJwk(file, jwk);
}

async function writePrivateFile(file: string, contents: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link() publishes atomically and fails if another process created the key first; rename would overwrite it.
    await link(temp, file);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(errorCode(error) ?? '')) throw error;
    await rename(temp, file);
    return;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Loads the Ed25519 key in `file`, creating it on first use; a corrupt or unreadable file is an error. */
export async function loadOrCreateSigningKey(file: string): Promise<SigningKey> {
  const existing = await load(file);
  if (existing) return existing;
  const dir = path.dirname(path.resolve(file));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const contents = `${JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d })}\n`;
  await writePrivateFile(file, contents);
  // Read back what is on disk: if another process won the race, its key is the one to use.
  const created = await load(file);
  if (!created) throw new SigningKeyFileError(file, 'vanished right after it was written');
  return created;
}

import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../../shared/thumbprint';
import { loadOrCreateSigningKey, SigningKeyFileError } from './keys';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-keys-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe('loadOrCreateSigningKey', () => {
  it('creates an Ed25519 key file 0600 in a 0700 directory, with kid = thumbprint', async () => {
    const file = path.join(root, 'data', 'nested', 'signing-key.json');
    const key = await loadOrCreateSigningKey(file);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(path.dirname(file))).toBe(0o700);
    expect(key.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: key.kid, alg: 'EdDSA', use: 'sig' });
    expect(key.kid).toBe(await jwkThumbprint(key.publicJwk));
    const onDisk = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(onDisk).sort()).toEqual(['crv', 'd', 'kty', 'x']);
    expect(onDisk.x).toBe(key.publicJwk.x);
  });

  it('signs tokens the public JWK verifies', async () => {
    const key = await loadOrCreateSigningKey(path.join(root, 'k.json'));
    const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).sign(key.privateKey);
    await expect(jwtVerify(token, key.publicJwk, { algorithms: ['EdDSA'] })).resolves.toBeTruthy();
  });

  it('S31 keeps the private key out of the public JWK and out of serialisation', async () => {
    const key = await loadOrCreateSigningKey(path.join(root, 'k.json'));
    expect(key.publicJwk).not.toHaveProperty('d');
    const onDisk = JSON.parse(await readFile(path.join(root, 'k.json'), 'utf8')) as { d: string };
    expect(JSON.stringify(key)).not.toContain(onDisk.d);
    expect((key.privateKey as CryptoKey).extractable).toBe(false);
  });

  it('loads the same key afterwards without rewriting the file', async () => {
    const file = path.join(root, 'k.json');
    const first = await loadOrCreateSigningKey(file);
    const before = await readFile(file, 'utf8');
    const second = await loadOrCreateSigningKey(file);
    expect(second.kid).toBe(first.kid);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('tightens an existing directory to 0700', async () => {
    const dir = path.join(root, 'loose');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    await loadOrCreateSigningKey(path.join(dir, 'k.json'));
    expect(await mode(dir)).toBe(0o700);
  });

  it('gives every concurrent caller the one key that ended up on disk', async () => {
    const file = path.join(root, 'race', 'k.json');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKey(file)));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    const onDisk = JSON.parse(await readFile(file, 'utf8')) as { x: string };
    expect(keys[0]?.publicJwk.x).toBe(onDisk.x);
    expect(await mode(file)).toBe(0o600);
  });

  it('refuses a corrupt file, naming it, and leaves it in place', async () => {
    const file = path.join(root, 'k.json');
    const corrupt = ['not json', '{"kty":"EC","crv":"P-256","x":"a","d":"b"}', '[]', 'null', '{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}'];
    for (const contents of corrupt) {
      await writeFile(file, contents, { mode: 0o600 });
      const error = await loadOrCreateSigningKey(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SigningKeyFileError);
      expect((error as Error).message).toContain(file);
      expect(await readFile(file, 'utf8')).toBe(contents);
    }
  });

  it('refuses a file whose private and public halves disagree', async () => {
    const file = path.join(root, 'k.json');
    const a = await exportJWK((await generateKeyPair('EdDSA', { extractable: true })).privateKey);
    const b = await exportJWK((await generateKeyPair('EdDSA', { extractable: true })).privateKey);
    await writeFile(file, JSON.stringify({ ...a, x: b.x }), { mode: 0o600 });
    await expect(loadOrCreateSigningKey(file)).rejects.toThrow(/does not match/);
  });

  it('refuses a key file other users can read, and a path that is not a regular file', async () => {
    const file = path.join(root, 'k.json');
    await loadOrCreateSigningKey(file);
    await chmod(file, 0o644);
    await expect(loadOrCreateSigningKey(file)).rejects.toThrow(/readable by other users.*644/);
    const dirAsFile = path.join(root, 'dir.json');
    await mkdir(dirAsFile);
    await expect(loadOrCreateSigningKey(dirAsFile)).rejects.toThrow(/not a regular file/);
  });

  it('follows a symlink to a private key file (secret mounts are often links)', async () => {
    const file = path.join(root, 'k.json');
    const key = await loadOrCreateSigningKey(file);
    const link = path.join(root, 'link.json');
    await symlink(file, link);
    expect((await loadOrCreateSigningKey(link)).kid).toBe(key.kid);
  });
});

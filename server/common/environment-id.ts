// Self-certifying environment ids (SPEC §11): the id is a digest of the environment's Ed25519 key,
// so anyone holding the key can check it and nobody can claim an id without the key.
import { base64url, calculateJwkThumbprint, type JWK } from 'jose';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const LABEL_LENGTH = 26;
export const ENVIRONMENT_ID_PATTERN = /^env_[a-z2-7]{26}$/;
const LABEL_PATTERN = /^[a-z2-7]{26}$/;

/** RFC 4648 base32, lower case, no padding. */
export function base32Lower(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** `env_` + the first 26 base32 characters of SHA-256 over the key's RFC 7638 canonical JSON. */
export async function environmentIdOfKey(publicJwk: JWK): Promise<string> {
  if (publicJwk.kty !== 'OKP' || publicJwk.crv !== 'Ed25519' || typeof publicJwk.x !== 'string') throw new Error('an environment key is an Ed25519 public key');
  // jose computes the RFC 7638 digest (canonical member order); we only re-encode its bytes.
  const digest = base64url.decode(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x }, 'sha256'));
  return `env_${base32Lower(digest).slice(0, LABEL_LENGTH)}`;
}

export function isEnvironmentId(value: unknown): value is string {
  return typeof value === 'string' && ENVIRONMENT_ID_PATTERN.test(value);
}

/** The host label of an environment's page origin: its id without `env_` (host names cannot carry `_`). */
export function hostLabelOf(environmentId: string): string {
  return environmentId.slice('env_'.length);
}

export function environmentIdOfHostLabel(label: string): string | null {
  return LABEL_PATTERN.test(label) ? `env_${label}` : null;
}

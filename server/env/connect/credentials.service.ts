// One-time connect credentials (SPEC §2): 12 symbols, stored hashed, bound to one thumbprint, 2 min.
import { randomBytes } from 'node:crypto';
import { CODE_ALPHABET } from '../../../shared/verification-code';
import { sha256Hex } from '../../common/secrets';
import type { SecurityMode } from '../../../shared/contracts';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';

export const CREDENTIAL_LENGTH = 12;
export const CREDENTIAL_TTL_MS = 2 * 60 * 1000;

/** Uniform over the 32-symbol alphabet by rejection sampling (no modulo bias, whatever the alphabet size). */
export function randomCredential(length = CREDENTIAL_LENGTH): string {
  const limit = 256 - (256 % CODE_ALPHABET.length);
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= limit) continue;
      out += CODE_ALPHABET[byte % CODE_ALPHABET.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Stores a new credential in the caller's open transaction and returns it (the only time it is seen in clear). */
export function issueCredential(
  db: EnvDb,
  now: number,
  input: { thumbprint: string; accountId: string; securityMode: SecurityMode; clientVersion: number | null },
): { credential: string; expiresAt: number } {
  const credential = randomCredential();
  const expiresAt = now + CREDENTIAL_TTL_MS;
  hotQueries(db).insertCredential.run({
    credentialHash: sha256Hex(credential),
    thumbprint: input.thumbprint,
    accountId: input.accountId,
    securityMode: input.securityMode,
    clientVersion: input.clientVersion,
    issuedAt: now,
    expiresAt,
  });
  return { credential, expiresAt };
}

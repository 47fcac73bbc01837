// One-time connect credentials (SPEC §2): 12 symbols, stored hashed, bound to one thumbprint, 2 min.
import { randomBytes } from 'node:crypto';
import { CODE_ALPHABET } from '../../../shared/verification-code';
import { sha256Hex } from '../../common/secrets';
import type { SecurityMode } from '../../../shared/contracts';
import type { EnvSql } from '../db/database';
import { connectCredentials } from '../db/schema';

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

export function issueCredential(
  tx: EnvSql,
  now: number,
  input: { thumbprint: string; accountId: string; securityMode: SecurityMode; clientVersion: number | null },
): { credential: string; expiresAt: number } {
  const credential = randomCredential();
  const expiresAt = now + CREDENTIAL_TTL_MS;
  tx.insert(connectCredentials)
    .values({
      credentialHash: sha256Hex(credential),
      clientProofKeyThumbprint: input.thumbprint,
      accountId: input.accountId,
      securityMode: input.securityMode,
      clientVersion: input.clientVersion,
      issuedAt: now,
      expiresAt,
    })
    .run();
  return { credential, expiresAt };
}

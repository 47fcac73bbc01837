// Client sessions: opaque DPoP-bound tokens, stored hashed (SPEC §2, §3 steps 7–8).
import { randomToken, sha256Hex } from '../../common/secrets';
import type { EnvSql } from '../db/database';
import { clientSessions } from '../db/schema';

export const CLIENT_SESSION_TTL_MS = 60 * 60 * 1000;
export const CLIENT_SCOPES = ['environment:use'];

export function createClientSession(tx: EnvSql, now: number, thumbprint: string, accountId: string): { token: string; expiresAt: number } {
  const token = randomToken();
  const expiresAt = now + CLIENT_SESSION_TTL_MS;
  tx.insert(clientSessions)
    .values({ tokenHash: sha256Hex(token), clientProofKeyThumbprint: thumbprint, accountId, scopes: CLIENT_SCOPES.join(' '), createdAt: now, expiresAt })
    .run();
  return { token, expiresAt };
}

// Owner access: one-time login links → session cookie, and the CLI's admin token (SPEC §2, §4).
import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import { DomainError } from '../../common/errors';
import { randomToken, secretsEqual, sha256Hex } from '../../common/secrets';
import { readTextIfExists, writeSecretFile } from '../../common/files';
import { ownerLoginCodes, ownerSessions } from '../db/schema';
import type { EnvDeps } from '../deps';
import type { AuditActor } from '../../../shared/contracts';
import { recordAudit } from '../audit/audit.service';

export const OWNER_SCOPES = ['access:read', 'access:write'] as const;
export const LOGIN_CODE_TTL_MS = 10 * 60 * 1000;
export const OWNER_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
export const OWNER_COOKIE = 'gatehouse_owner';

export interface OwnerIdentity {
  scopes: readonly string[];
  via: 'cookie' | 'admin-token';
}

export function createLoginCode(deps: Pick<EnvDeps, 'db' | 'clock'>): { code: string; expiresAt: number } {
  const now = deps.clock.now();
  const code = randomToken();
  deps.db.transaction((tx) => {
    tx.delete(ownerLoginCodes).where(lt(ownerLoginCodes.expiresAt, now)).run();
    tx.insert(ownerLoginCodes).values({ codeHash: sha256Hex(code), createdAt: now, expiresAt: now + LOGIN_CODE_TTL_MS }).run();
  });
  return { code, expiresAt: now + LOGIN_CODE_TTL_MS };
}

/** Consumes a login code exactly once and opens an owner session. */
export function redeemLoginCode(deps: Pick<EnvDeps, 'db' | 'clock'>, code: string): { token: string; expiresAt: number } {
  const now = deps.clock.now();
  if (code.length < 16 || code.length > 128) throw invalidCode();
  const token = randomToken();
  const expiresAt = now + OWNER_SESSION_TTL_MS;
  deps.db.transaction(
    (tx) => {
      const used = tx
        .update(ownerLoginCodes)
        .set({ usedAt: now })
        .where(and(eq(ownerLoginCodes.codeHash, sha256Hex(code)), isNull(ownerLoginCodes.usedAt), gt(ownerLoginCodes.expiresAt, now)))
        .run();
      if (used.changes !== 1) throw invalidCode();
      tx.delete(ownerSessions).where(lt(ownerSessions.expiresAt, now)).run();
      tx.insert(ownerSessions).values({ tokenHash: sha256Hex(token), scopes: OWNER_SCOPES.join(' '), createdAt: now, expiresAt }).run();
    },
    { behavior: 'immediate' },
  );
  return { token, expiresAt };
}

function invalidCode() {
  return new DomainError(
    'unauthorized',
    'invalid_grant',
    'This login link is invalid, expired or already used. Get a new one with `npx gatehouse owner login-url`.',
  );
}

export function resolveOwnerSession(deps: Pick<EnvDeps, 'db' | 'clock'>, token: string): OwnerIdentity | null {
  if (token.length < 16 || token.length > 128) return null;
  const row = deps.db
    .select()
    .from(ownerSessions)
    .where(and(eq(ownerSessions.tokenHash, sha256Hex(token)), gt(ownerSessions.expiresAt, deps.clock.now())))
    .get();
  return row ? { scopes: row.scopes.split(' '), via: 'cookie' } : null;
}

/** The key of an owner session for per-session limits and sign-out: the hash of its token. */
export const ownerSessionKey = (token: string): string => sha256Hex(token);

/** Signs one session out (S63): its row is deleted and its open event streams close. True if it was live. */
export function endOwnerSession(deps: Pick<EnvDeps, 'db' | 'bus' | 'clock'>, token: string): boolean {
  if (token.length < 16 || token.length > 128) return false;
  const key = ownerSessionKey(token);
  const now = deps.clock.now();
  const ended = deps.db.transaction((tx) => {
    const gone = tx.delete(ownerSessions).where(eq(ownerSessions.tokenHash, key)).run().changes > 0;
    if (gone) recordAudit(deps.db, now, { actor: 'web', action: 'owner_signed_out', detail: { all: false, endedSessions: 1 } });
    return gone;
  });
  if (ended) deps.bus.signalOwnerSessionsEnded([key]);
  return ended;
}

/** `gatehouse owner logout --all`: every owner session ends (the admin token is not a session); how many were live. */
export function endAllOwnerSessions(deps: Pick<EnvDeps, 'db' | 'bus' | 'clock'>, actor: AuditActor = 'cli'): { endedSessions: number } {
  const now = deps.clock.now();
  const live = deps.db.transaction((tx) => {
    const n = tx.select({ n: sql<number>`count(*)` }).from(ownerSessions).where(gt(ownerSessions.expiresAt, now)).get()?.n ?? 0;
    tx.delete(ownerSessions).run();
    recordAudit(deps.db, now, { actor, action: 'owner_signed_out', detail: { all: true, endedSessions: n } });
    return n;
  }, { behavior: 'immediate' });
  deps.bus.signalOwnerSessionsEnded('all-cookie-sessions');
  return { endedSessions: live };
}

/** The CLI's bearer token: created once, mode 0600, compared in constant time. */
export function loadOrCreateAdminToken(file: string): string {
  const existing = readTextIfExists(file)?.trim();
  if (existing) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(existing)) {
      throw new Error(`The admin token in ${file} is malformed. Delete the file and restart the environment to create a new one.`);
    }
    return existing;
  }
  const token = randomToken();
  writeSecretFile(file, `${token}\n`);
  return token;
}

export function checkAdminToken(expected: string, presented: string): OwnerIdentity | null {
  return secretsEqual(expected, presented) ? { scopes: OWNER_SCOPES, via: 'admin-token' } : null;
}

// Client sessions: opaque DPoP-bound tokens, stored hashed (SPEC §2, §3 steps 7–8).
import { and, eq, gt, isNull } from 'drizzle-orm';
import { DomainError } from '../../common/errors';
import { clientSessionStreamSlotsOf, MAX_SESSION_STREAMS_PER_CLIENT_SESSION } from '../events/subscription-slots';
import { randomToken, sha256Hex } from '../../common/secrets';
import type { EnvSql } from '../db/database';
import { clientSessions } from '../db/schema';
import type { EnvDeps } from '../deps';

/** A verified DPoP client session. */
export interface ClientIdentity {
  clientProofKeyThumbprint: string;
  accountId: string;
  scopes: string[];
  expiresAt: number;
  sessionTokenHash: string;
}

export const CLIENT_SESSION_TTL_MS = 60 * 60 * 1000;
export const CLIENT_SCOPES = ['environment:use'];

/** `endsBy`: the approval's end, which a session never outlasts (SPEC §13). */
export function createClientSession(tx: EnvSql, now: number, thumbprint: string, accountId: string, endsBy?: number): { token: string; expiresAt: number } {
  const token = randomToken();
  const expiresAt = Math.min(now + CLIENT_SESSION_TTL_MS, endsBy ?? Infinity);
  tx.insert(clientSessions)
    .values({ tokenHash: sha256Hex(token), clientProofKeyThumbprint: thumbprint, accountId, scopes: CLIENT_SCOPES.join(' '), createdAt: now, expiresAt })
    .run();
  return { token, expiresAt };
}

/** The session with this token hash if it is neither ended nor expired at `now`. */
export function findLiveSession(db: EnvSql, tokenHash: string, now: number) {
  return db
    .select()
    .from(clientSessions)
    .where(and(eq(clientSessions.tokenHash, tokenHash), isNull(clientSessions.endedAt), gt(clientSessions.expiresAt, now)))
    .get();
}

/** Resolves when this client's session ends (revoked, rejected), expires, or the stream closes. */
function sessionEnded(deps: EnvDeps, client: ClientIdentity, signal: AbortSignal | undefined): Promise<'ended' | 'expired' | 'closed'> {
  return new Promise((resolve) => {
    const finish = (why: 'ended' | 'expired' | 'closed') => {
      off();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onAbort = () => finish('closed');
    const off = deps.bus.onClientSignal((s) => {
      if (s.clientProofKeyThumbprint === client.clientProofKeyThumbprint && s.kind === 'sessions-ended' && !findLiveSession(deps.db, client.sessionTokenHash, deps.clock.now())) finish('ended');
    });
    const timer = setTimeout(() => finish('expired'), Math.max(0, Math.min(client.expiresAt - deps.clock.now(), 2 ** 31 - 1)));
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) onAbort();
  });
}

export type ClientSessionState = { status: 'active'; expiresAt: number } | { status: 'ended'; reason: 'revoked' | 'expired' };

/** A connected client's live session: `active` now, then `ended` the moment it is revoked, rejected or expires. */
export async function* clientSessionStates(deps: EnvDeps, client: ClientIdentity, signal: AbortSignal | undefined): AsyncGenerator<ClientSessionState> {
  if (!findLiveSession(deps.db, client.sessionTokenHash, deps.clock.now())) {
    yield { status: 'ended', reason: 'revoked' };
    return;
  }
  yield { status: 'active', expiresAt: client.expiresAt };
  const why = await sessionEnded(deps, client, signal);
  if (why === 'ended') yield { status: 'ended', reason: 'revoked' };
  if (why === 'expired') yield { status: 'ended', reason: 'expired' };
}

/** A `client.session` stream, at most a few per client session (a tab loop cannot pin the server). */
export function openClientSessionStream(deps: EnvDeps, client: ClientIdentity, signal: AbortSignal | undefined): AsyncGenerator<ClientSessionState> {
  const release = clientSessionStreamSlotsOf(deps).acquire(client.sessionTokenHash);
  if (!release) throw new DomainError('too_many_requests', 'rate_limited', `At most ${MAX_SESSION_STREAMS_PER_CLIENT_SESSION} open session streams per client session.`);
  return (async function* () {
    try {
      yield* clientSessionStates(deps, client, signal);
    } finally {
      release();
    }
  })();
}

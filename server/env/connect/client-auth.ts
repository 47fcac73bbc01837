// Authenticates client requests on the environment (SPEC §3 step 8).
import { eq } from 'drizzle-orm';
import type { IncomingMessage } from 'node:http';
import { DomainError } from '../../common/errors';
import { securityLogOf } from '../../common/security-log';
import { sha256Hex } from '../../common/secrets';
import { DpopError, readDpopHeader, verifyDpopProof } from '../../dpop/verify-dpop';
import { credentialsOf, usesScheme } from '../../common/www-authenticate';
import type { EnvSql } from '../db/database';
import { connectClients } from '../db/schema';
import type { EnvDeps } from '../deps';
import { findLiveSession, type ClientIdentity } from './client-sessions.service';
import { approvalHasExpired, expireDueApprovals } from './approval-expiry.service';
import { consumeMarker } from './replay';
import { getSecurityMode } from './security-mode.service';

export type { ClientIdentity } from './client-sessions.service';

const unauthorized = (message: string) => new DomainError('unauthorized', 'invalid_token', message);

function approvalHasExpiredFor(tx: EnvSql, thumbprint: string, now: number): boolean {
  const row = tx.select({ status: connectClients.status, approvalExpiresAt: connectClients.approvalExpiresAt }).from(connectClients).where(eq(connectClients.clientProofKeyThumbprint, thumbprint)).get();
  return row !== undefined && approvalHasExpired(row, now);
}

/** The URLs a client may have called for `path`: under the environment's own URL or its routed endpoint. */
export const endpointUrls = (baseUrls: readonly string[], path: string): string[] => baseUrls.map((base) => `${base.replace(/\/+$/, '')}${path}`);

/**
 * Authenticates a client request: `Authorization: DPoP <token>` plus a fresh proof for this exact
 * method and URL, bound to the token (`ath`) and to the session's key, used once.
 */
export async function authenticateClientRequest(deps: EnvDeps, req: IncomingMessage, baseUrls: readonly string[]): Promise<ClientIdentity> {
  const auth = req.headers.authorization;
  const match = /^([A-Za-z0-9_-]{20,128})$/.exec(credentialsOf(auth, 'DPoP') ?? '');
  if (!match) {
    // The same words as the relay for the same failure (shared/reasons.ts): missing, wrong scheme, bad proof.
    if (auth === undefined) throw new DomainError('unauthorized', 'unauthenticated', 'A client session (Authorization: DPoP) is required.');
    throw unauthorized(usesScheme(auth, 'Bearer') ? 'Client sessions are DPoP-bound: the Bearer scheme is refused.' : 'A client session (Authorization: DPoP) is required.');
  }
  const token = match[1]!;
  const now = deps.clock.now();
  const path = new URL(req.url ?? '/', 'http://env.invalid').pathname;
  let proof: Awaited<ReturnType<typeof verifyDpopProof>>;
  try {
    proof = await verifyDpopProof(readDpopHeader(req.rawHeaders), {
      method: req.method ?? 'GET',
      url: endpointUrls(baseUrls, path),
      accessToken: token,
      now,
    });
  } catch (error) {
    if (error instanceof DpopError) {
      securityLogOf(deps).record({ kind: 'dpop_invalid', where: `env ${req.method ?? 'GET'} ${path}`, reason: error.message });
      throw new DomainError('unauthorized', 'invalid_dpop_proof', `Invalid DPoP proof: ${error.message}`);
    }
    throw error;
  }
  let expiredApproval = false;
  try {
    return authenticateInTx();
  } finally {
    // The refusal rolled its transaction back: the expiry itself commits on its own.
    if (expiredApproval) expireDueApprovals(deps, proof.thumbprint);
  }

  function authenticateInTx(): ClientIdentity {
  return deps.db.transaction(
    (tx) => {
      const session = findLiveSession(tx, sha256Hex(token), now);
      if (!session || session.clientProofKeyThumbprint !== proof.thumbprint) {
        // A session capped at its approval's end is over by now: the row still goes back to pending.
        if (!session) expiredApproval = approvalHasExpiredFor(tx, proof.thumbprint, now);
        throw unauthorized('This client session is not valid (ended, expired, or bound to another key).');
      }
      if (getSecurityMode(deps.db) === 'client-approval') {
        const row = tx.select({ status: connectClients.status, revokedAt: connectClients.revokedAt, approvalExpiresAt: connectClients.approvalExpiresAt }).from(connectClients).where(eq(connectClients.clientProofKeyThumbprint, session.clientProofKeyThumbprint)).get();
        if (!row || row.revokedAt !== null || row.status !== 'approved') throw unauthorized('This client is no longer approved.');
        if (approvalHasExpired(row, now)) {
          expiredApproval = true;
          throw unauthorized('This client’s approval has expired; ask the owner to approve it again.');
        }
      }
      if (!consumeMarker(deps.db, 'dpop', proof.replayKey, proof.replayExpiresAt)) {
        securityLogOf(deps).record({ kind: 'dpop_replayed', where: `env ${req.method ?? 'GET'} ${path}`, thumbprint: proof.thumbprint, jti: proof.jti });
        throw new DomainError('unauthorized', 'invalid_dpop_proof', 'Invalid DPoP proof: it was already used.');
      }
      return {
        clientProofKeyThumbprint: session.clientProofKeyThumbprint,
        accountId: session.accountId,
        scopes: session.scopes.split(' '),
        expiresAt: session.expiresAt,
        sessionTokenHash: session.tokenHash,
      };
    },
    { behavior: 'immediate' },
  );
  }
}

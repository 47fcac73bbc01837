// Key continuity (SPEC §13): an approved client moves its approval to a new key with a proof signed
// by that key. The row moves to the new thumbprint, the old key's sessions and credentials end.
import { and, eq, isNull, sql } from 'drizzle-orm';
import { decodeProtectedHeader, EmbeddedJWK, errors as joseErrors, jwtVerify } from 'jose';
import { KEY_ROTATION_TYP } from '../../../shared/key-rotation';
import { jwkThumbprint } from '../../../shared/thumbprint';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import { connectClients } from '../db/schema';
import type { EnvDeps } from '../deps';
import { endClientAccess } from './client-access';
import type { ClientIdentity } from './client-sessions.service';
import { toConnectClient } from './client-view';
import { approvalHasExpired } from './approval-expiry.service';
import { findActiveClient, findClientRow, notFound } from './clients.service';
import { consumeMarker } from './replay';
import { readSecurityModeState } from './security-mode.service';

const MAX_AGE_SECONDS = 60;
const MAX_FUTURE_SECONDS = 5;
const MAX_PROOF_LENGTH = 4096;

const invalid = (why: string) => new DomainError('bad_request', 'invalid_request', `Invalid key rotation proof: ${why}.`);

export interface KeyRotated {
  oldThumbprint: string;
  newThumbprint: string;
  endedSessions: number;
}

/**
 * Whether `thumbprint` has an approval of its own that a rotation could move (SPEC §13): only in
 * client-approval mode (in account mode the account lets a device in, whatever its key), and only
 * while its approval holds (approved, not revoked, its end not passed).
 */
export function canRotateKey(deps: Pick<EnvDeps, 'db' | 'clock'>, thumbprint: string): boolean {
  if (readSecurityModeState(deps.db).mode !== 'client-approval') return false;
  const row = findActiveClient(deps.db, thumbprint);
  return row?.status === 'approved' && !approvalHasExpired(row, deps.clock.now());
}

/** Verifies `newKeyProof` for `client` and moves its approval to the key that signed it. */
export async function rotateClientKey(deps: EnvDeps, client: ClientIdentity, environmentId: string, newKeyProof: string): Promise<KeyRotated> {
  if (newKeyProof.length > MAX_PROOF_LENGTH) throw invalid('too large');
  const now = deps.clock.now();
  let header;
  try {
    header = decodeProtectedHeader(newKeyProof);
  } catch {
    throw invalid('not a JWS');
  }
  if (header.typ !== KEY_ROTATION_TYP) throw invalid(`typ must be ${KEY_ROTATION_TYP}`);
  let payload;
  try {
    ({ payload } = await jwtVerify(newKeyProof, EmbeddedJWK, { typ: KEY_ROTATION_TYP, algorithms: ['ES256', 'EdDSA'], currentDate: new Date(now), requiredClaims: ['iat', 'jti'] }));
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) throw invalid(error.message);
    throw error;
  }
  let newThumbprint: string;
  try {
    newThumbprint = await jwkThumbprint(header.jwk);
  } catch {
    throw invalid('the jwk header is not a supported public key');
  }
  const { environmentId: env, oldThumbprint, jti, iat } = payload as { environmentId?: unknown; oldThumbprint?: unknown; jti?: unknown; iat?: number };
  if (env !== environmentId) throw invalid('it is for another environment');
  if (oldThumbprint !== client.clientProofKeyThumbprint) throw invalid('oldThumbprint is not the key of this session');
  if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128) throw invalid('jti must be 16–128 characters');
  if (iat === undefined || iat < now / 1000 - MAX_AGE_SECONDS) throw invalid('it is too old');
  if (iat > now / 1000 + MAX_FUTURE_SECONDS) throw invalid('it is dated in the future');
  if (newThumbprint === oldThumbprint) throw invalid('the new key is the old key');

  const at = isoTime(now);
  const result = deps.db.transaction(
    (tx) => {
      if (!consumeMarker(deps.db, 'key-rotation', jti, (iat + MAX_AGE_SECONDS + MAX_FUTURE_SECONDS) * 1000)) throw invalid('it was already used');
      const taken = findClientRow(deps.db, newThumbprint);
      if (taken && taken.revokedAt === null) throw new DomainError('conflict', 'conflict', 'The new key already belongs to another client.');
      // A forgotten (revoked) row of the new key gives way: its history is in the audit log.
      if (taken) tx.delete(connectClients).where(eq(connectClients.clientProofKeyThumbprint, newThumbprint)).run();
      // Conditional on the old row still being approved: a racing revoke makes this refuse, never resurrect.
      const moved = tx
        .update(connectClients)
        .set({ clientProofKeyThumbprint: newThumbprint, updatedAt: at, lastSeenAt: null, version: sql`${connectClients.version} + 1` })
        .where(and(eq(connectClients.clientProofKeyThumbprint, oldThumbprint), isNull(connectClients.revokedAt), eq(connectClients.status, 'approved')))
        .returning()
        .get();
      if (!moved) throw notFound(oldThumbprint);
      const { endedSessions } = endClientAccess(tx, oldThumbprint, now);
      recordAudit(deps.db, now, { actor: 'client', action: 'client_key_rotated', clientProofKeyThumbprint: newThumbprint, detail: { oldThumbprint, newThumbprint, endedSessions } });
      return { row: moved, endedSessions };
    },
    { behavior: 'immediate' },
  );
  deps.bus.publish({ type: 'connectClientRemoved', payload: { clientProofKeyThumbprint: oldThumbprint } });
  deps.bus.publish({ type: 'connectClientUpserted', payload: toConnectClient(result.row) });
  deps.bus.signalClient({ clientProofKeyThumbprint: oldThumbprint, kind: 'sessions-ended' });
  return { oldThumbprint, newThumbprint, endedSessions: result.endedSessions };
}

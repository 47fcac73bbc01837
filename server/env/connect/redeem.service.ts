// Credential → client session (SPEC §3 step 7): RFC 8693 token exchange with a DPoP proof.
import { and, eq, isNull } from 'drizzle-orm';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { DomainError } from '../../common/errors';
import { securityLogOf } from '../../common/security-log';
import { sha256Hex } from '../../common/secrets';
import { DpopError, readDpopHeader, verifyDpopProof } from '../../dpop/verify-dpop';
import { connectClients, connectCredentials } from '../db/schema';
import type { EnvDeps } from '../deps';
import { approvalHasExpired, expireDueApprovals, sessionCap } from './approval-expiry.service';
import { CLIENT_SCOPES, createClientSession } from './client-sessions.service';
import { consumeMarker } from './replay';
import { getSecurityMode } from './security-mode.service';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const CONNECT_CREDENTIAL_TYPE = 'urn:gatehouse:token-type:connect-credential';

const RedeemForm = z.object({
  grant_type: z.literal(TOKEN_EXCHANGE_GRANT),
  subject_token: z.string().regex(/^[23456789A-HJ-NP-Z]{12}$/),
  subject_token_type: z.literal(CONNECT_CREDENTIAL_TYPE),
});
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const invalidGrant = () => new DomainError('bad_request', 'invalid_grant', 'The connect credential is invalid, expired, already used, or bound to another key.');

export interface SessionGrant {
  access_token: string;
  token_type: 'DPoP';
  expires_in: number;
  scope: string;
  /** RFC 8693 §2.2.1. */
  issued_token_type: typeof ACCESS_TOKEN_TYPE;
}

export async function redeemCredential(deps: EnvDeps, req: IncomingMessage, form: Record<string, unknown>, tokenUrl: string | readonly string[]): Promise<SessionGrant> {
  const parsed = RedeemForm.safeParse(form);
  if (!parsed.success) {
    if (form.grant_type !== TOKEN_EXCHANGE_GRANT) throw new DomainError('bad_request', 'invalid_request', `grant_type must be ${TOKEN_EXCHANGE_GRANT}.`);
    if (form.subject_token_type !== CONNECT_CREDENTIAL_TYPE) throw new DomainError('bad_request', 'invalid_request', `subject_token_type must be ${CONNECT_CREDENTIAL_TYPE}.`);
    throw invalidGrant();
  }
  const now = deps.clock.now();
  let proof: Awaited<ReturnType<typeof verifyDpopProof>>;
  try {
    proof = await verifyDpopProof(readDpopHeader(req.rawHeaders), { method: req.method ?? 'POST', url: tokenUrl, now });
  } catch (error) {
    if (error instanceof DpopError) {
      securityLogOf(deps).record({ kind: 'dpop_invalid', where: 'env POST /oauth/token', reason: error.message });
      throw new DomainError('bad_request', 'invalid_dpop_proof', error.message);
    }
    throw error;
  }
  const credentialHash = sha256Hex(parsed.data.subject_token);
  let expiredApproval = false;
  try {
    return redeemInTx();
  } finally {
    // The refusal rolled its transaction back: the expiry itself commits on its own.
    if (expiredApproval) expireDueApprovals(deps, proof.thumbprint);
  }

  function redeemInTx(): SessionGrant {
  return deps.db.transaction(
    (tx) => {
      let endsBy: number | undefined;
      const credential = tx.select().from(connectCredentials).where(eq(connectCredentials.credentialHash, credentialHash)).get();
      if (!credential || credential.redeemedAt !== null || credential.expiresAt <= now || credential.clientProofKeyThumbprint !== proof.thumbprint) {
        throw invalidGrant();
      }
      if (getSecurityMode(deps.db) === 'client-approval') {
        // Approved at this moment, not merely when the credential was minted.
        const row = tx.select().from(connectClients).where(eq(connectClients.clientProofKeyThumbprint, proof.thumbprint)).get();
        if (!row || row.revokedAt !== null || row.status !== 'approved' || row.accountId !== credential.accountId) throw invalidGrant();
        if (approvalHasExpired(row, now)) {
          expiredApproval = true;
          throw invalidGrant();
        }
        endsBy = sessionCap(row);
      }
      if (!consumeMarker(deps.db, 'dpop', proof.replayKey, proof.replayExpiresAt)) {
        securityLogOf(deps).record({ kind: 'dpop_replayed', where: 'env POST /oauth/token', thumbprint: proof.thumbprint, jti: proof.jti });
        throw new DomainError('bad_request', 'invalid_dpop_proof', 'The DPoP proof was already used.');
      }
      const used = tx
        .update(connectCredentials)
        .set({ redeemedAt: now })
        .where(and(eq(connectCredentials.credentialHash, credentialHash), isNull(connectCredentials.redeemedAt)))
        .run();
      if (used.changes !== 1) throw invalidGrant();
      const session = createClientSession(tx, now, proof.thumbprint, credential.accountId, endsBy);
      return { access_token: session.token, token_type: 'DPoP' as const, expires_in: Math.floor((session.expiresAt - now) / 1000), scope: CLIENT_SCOPES.join(' '), issued_token_type: ACCESS_TOKEN_TYPE };
    },
    { behavior: 'immediate' },
  );
  }
}

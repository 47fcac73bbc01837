// DPoP-bound authentication of relay requests: a proof for this exact method and URL, bound to
// the access token (`ath`) and to its `cnf.jkt`, used once across every relay instance.
import type { IncomingMessage } from 'node:http';
import { DomainError } from '../common/errors';
import { securityLogOf } from '../common/security-log';
import { DpopError, readDpopHeader, verifyDpopProof, type VerifiedDpopProof } from '../dpop/verify-dpop';
import { credentialsOf, usesScheme } from '../common/www-authenticate';
import { CONNECT_SCOPE, verifyRelayAccessToken, type RelayAccessClaims } from './access-token';
import type { RelayDeps } from './deps';

export async function verifyRequestProof(deps: RelayDeps, req: IncomingMessage, accessToken?: string): Promise<VerifiedDpopProof> {
  const path = new URL(req.url ?? '/', 'http://relay.invalid').pathname;
  try {
    return await verifyDpopProof(readDpopHeader(req.rawHeaders), {
      method: req.method ?? 'GET',
      url: new URL(path, deps.publicUrl()).href,
      ...(accessToken !== undefined && { accessToken }),
      now: deps.clock.now(),
    });
  } catch (error) {
    if (error instanceof DpopError) {
      securityLogOf(deps).record({ kind: 'dpop_invalid', where: `relay ${req.method ?? 'GET'} ${path}`, reason: error.message });
      throw new DomainError('bad_request', 'invalid_dpop_proof', error.message);
    }
    throw error;
  }
}

/** Records the proof as used; a second use anywhere is refused like any invalid proof (S19). */
export async function consumeProof(deps: RelayDeps, proof: VerifiedDpopProof): Promise<void> {
  let fresh: boolean;
  try {
    fresh = await deps.store.consumeMarker('dpop', proof.replayKey, proof.replayExpiresAt);
  } catch (error) {
    if (error instanceof DomainError) throw error; // e.g. the store's own "database is unavailable"
    throw new DomainError('unavailable', 'internal', 'The relay could not record the DPoP proof; try again shortly.');
  }
  if (!fresh) {
    securityLogOf(deps).record({ kind: 'dpop_replayed', where: `relay ${proof.htm} ${new URL(proof.htu).pathname}`, thumbprint: proof.thumbprint, jti: proof.jti });
    throw new DomainError('bad_request', 'invalid_dpop_proof', 'The DPoP proof was already used.');
  }
}

export async function authenticateRelayClient(deps: RelayDeps, req: IncomingMessage): Promise<RelayAccessClaims> {
  const auth = req.headers.authorization;
  const match = /^([A-Za-z0-9_.-]{1,8192})$/.exec(credentialsOf(auth, 'DPoP') ?? '');
  if (!match) {
    if (auth === undefined) throw new DomainError('unauthorized', 'unauthenticated', 'A relay access token (Authorization: DPoP) is required.');
    throw new DomainError('unauthorized', 'invalid_token', usesScheme(auth, 'Bearer') ? 'Relay access tokens are DPoP-bound: the Bearer scheme is refused.' : 'A relay access token (Authorization: DPoP) is required.');
  }
  const token = match[1]!;
  const claims = await verifyRelayAccessToken(token, { key: deps.signingKey.publicKey, relayIssuer: deps.relayIssuer, now: deps.clock.now() });
  let proof: VerifiedDpopProof;
  try {
    proof = await verifyRequestProof(deps, req, token);
  } catch (error) {
    if (error instanceof DomainError) throw new DomainError('unauthorized', 'invalid_dpop_proof', error.message);
    throw error;
  }
  if (proof.thumbprint !== claims.cnf.jkt) {
    securityLogOf(deps).record({ kind: 'dpop_invalid', where: `relay ${req.method ?? 'GET'} ${new URL(req.url ?? '/', 'http://relay.invalid').pathname}`, thumbprint: proof.thumbprint, jti: proof.jti, reason: 'made with another key than the access token is bound to' });
    throw new DomainError('unauthorized', 'invalid_dpop_proof', 'The DPoP proof was made with another key than the token is bound to.');
  }
  if (!claims.scope.split(' ').includes(CONNECT_SCOPE)) throw new DomainError('forbidden', 'forbidden', `The token lacks the ${CONNECT_SCOPE} scope.`);
  try {
    await consumeProof(deps, proof);
  } catch (error) {
    if (error instanceof DomainError && error.reason === 'invalid_dpop_proof') throw new DomainError('unauthorized', 'invalid_dpop_proof', error.message);
    throw error;
  }
  return claims;
}

// Environment links (SPEC §3 step 0, §11): an owner's ID token plus the environment's own signed,
// single-use proof. The id is a digest of the key, so a link can never be re-pointed to another key.
import type { JWK } from 'jose';
import { DomainError } from '../common/errors';
import { securityLogOf } from '../common/security-log';
import { LinkProofError, verifyLinkProof, verifyUnlinkProof } from '../mint/link-proof';
import type { RelayDeps } from './deps';
import { routedEndpointOf } from './routing';

export interface LinkAnswer {
  environmentId: string;
  accountId: string;
  relayIssuer: string;
  relayPublicKey: JWK;
  /** Where clients reach this environment through the relay (SPEC §11). */
  routedEndpoint: string;
  /** The environment's own browser origin at the relay, when the relay serves pages. */
  deviceOrigin: string | null;
  /** The direct endpoint the relay stored, if any. */
  endpoint: string | null;
}

const PROOF_MARKER_SKEW_MS = 60_000;

function refused(deps: RelayDeps, error: LinkProofError, environmentId: string | undefined, what: 'link' | 'unlink'): DomainError {
  securityLogOf(deps).record({ kind: 'link_refused', where: `relay ${what}`, environmentId, reason: error.message });
  return new DomainError(what === 'link' ? 'bad_request' : 'unauthorized', error.reason, `The ${what} proof is not valid: ${error.message}.`);
}

export async function createLink(deps: RelayDeps, idToken: string, proof: unknown): Promise<LinkAnswer> {
  const { accountId } = await deps.accountTokens.verify(idToken);
  let link;
  try {
    link = await verifyLinkProof(proof, { relayIssuer: deps.relayIssuer, now: deps.clock.now() });
  } catch (error) {
    if (error instanceof LinkProofError) throw refused(deps, error, undefined, 'link');
    throw error;
  }
  if (!(await deps.store.consumeMarker('link', link.jti, link.exp * 1000 + PROOF_MARKER_SKEW_MS))) {
    throw refused(deps, new LinkProofError('it was already used'), link.environmentId, 'link');
  }
  const before = await deps.store.getLink(link.environmentId);
  const saved = await deps.store.saveLink({ environmentId: link.environmentId, accountId, environmentPublicKey: link.environmentPublicKey, endpoint: link.endpoint }, deps.clock.now());
  if (!saved.saved) {
    securityLogOf(deps).record({ kind: 'link_refused', where: 'relay link', environmentId: link.environmentId, accountId, reason: 'linked to another account' });
    throw new DomainError('conflict', 'environment_link_conflict', 'This environment is linked to another account. Unlink it first (`npx gatehouse connect unlink`).');
  }
  securityLogOf(deps).record({
    kind: 'link_changed',
    where: before ? 'relay relink' : 'relay link',
    environmentId: link.environmentId,
    accountId,
    reason: link.endpoint ? 'tunnel or direct endpoint' : 'tunnel only',
  });
  return {
    environmentId: link.environmentId,
    accountId,
    relayIssuer: deps.relayIssuer,
    relayPublicKey: deps.signingKey.publicJwk,
    routedEndpoint: routedEndpointOf(deps.publicUrl(), link.environmentId),
    deviceOrigin: deps.deviceOriginOf?.(link.environmentId) ?? null,
    endpoint: link.endpoint,
  };
}

export async function removeLink(deps: RelayDeps, environmentId: string, proof: unknown): Promise<{ linked: false }> {
  const link = await deps.store.getLink(environmentId);
  if (!link) return { linked: false };
  let verified;
  try {
    verified = await verifyUnlinkProof(proof, { relayIssuer: deps.relayIssuer, environmentId, environmentPublicKey: link.environmentPublicKey, now: deps.clock.now() });
  } catch (error) {
    if (error instanceof LinkProofError) throw refused(deps, error, environmentId, 'unlink');
    throw error;
  }
  if (!(await deps.store.consumeMarker('unlink', verified.jti, verified.exp * 1000 + PROOF_MARKER_SKEW_MS))) {
    throw refused(deps, new LinkProofError('it was already used'), environmentId, 'unlink');
  }
  await deps.store.deleteLink(environmentId);
  deps.onUnlinked?.(environmentId);
  securityLogOf(deps).record({ kind: 'link_changed', where: 'relay unlink', environmentId, accountId: link.accountId });
  return { linked: false };
}

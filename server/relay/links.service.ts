// Environment links (SPEC §3 step 0): an owner's ID token plus the environment's own signed proof.
import { DomainError } from '../common/errors';
import { LinkProofError, verifyLinkProof, verifyUnlinkProof } from '../mint/link-proof';
import type { RelayDeps } from './deps';

export interface LinkAnswer {
  environmentId: string;
  accountId: string;
  relayIssuer: string;
  relayPublicKey: import('jose').JWK;
}

export async function createLink(deps: RelayDeps, idToken: string, proof: unknown): Promise<LinkAnswer> {
  const { accountId } = await deps.accountTokens.verify(idToken);
  let link;
  try {
    link = await verifyLinkProof(proof, { relayIssuer: deps.relayIssuer, now: deps.clock.now() });
  } catch (error) {
    if (error instanceof LinkProofError) throw new DomainError('bad_request', 'invalid_request', `The link proof is not valid: ${error.message}.`);
    throw error;
  }
  const saved = await deps.store.saveLink({ environmentId: link.environmentId, accountId, environmentPublicKey: link.environmentPublicKey, endpoint: link.endpoint }, deps.clock.now());
  if (!saved.saved) {
    throw new DomainError('conflict', 'environment_link_conflict', 'This environment is linked to another account. Unlink it first (`gatehouse connect unlink`).');
  }
  return { environmentId: link.environmentId, accountId, relayIssuer: deps.relayIssuer, relayPublicKey: deps.signingKey.publicJwk };
}

export async function removeLink(deps: RelayDeps, environmentId: string, proof: unknown): Promise<{ linked: false }> {
  const link = await deps.store.getLink(environmentId);
  if (!link) return { linked: false };
  try {
    await verifyUnlinkProof(proof, { relayIssuer: deps.relayIssuer, environmentId, environmentPublicKey: link.environmentPublicKey, now: deps.clock.now() });
  } catch (error) {
    if (error instanceof LinkProofError) throw new DomainError('unauthorized', 'invalid_request', `The unlink proof is not valid: ${error.message}.`);
    throw error;
  }
  await deps.store.deleteLink(environmentId);
  return { linked: false };
}

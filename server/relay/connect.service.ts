import type { ConnectInput, ConnectResult } from '../../shared/contracts';
import { DomainError } from '../common/errors';
import type { RelayAccessClaims } from './access-token';
import { createConnector, type ConnectCall } from './connector';
import type { RelayDeps } from './deps';

/** SPEC §3 step 3: the client may only connect its own key to an environment linked to its account. */
export async function connectEnvironment(deps: RelayDeps, account: RelayAccessClaims, input: ConnectInput, call: ConnectCall = {}): Promise<ConnectResult> {
  if (input.clientProofKeyThumbprint !== account.cnf.jkt) {
    throw new DomainError('forbidden', 'forbidden', 'clientProofKeyThumbprint must be the thumbprint of the key this token is bound to.');
  }
  const link = await deps.store.getLink(input.environmentId);
  if (!link || link.accountId !== account.sub) {
    throw new DomainError('forbidden', 'environment_link_not_found', 'No environment with this id is linked to your account.');
  }
  const connector = createConnector({
    relayIssuer: deps.relayIssuer,
    publicUrl: deps.publicUrl(),
    signingKey: deps.signingKey.privateKey,
    clock: deps.clock,
    securityLog: deps.securityLog,
    tunnels: deps.tunnels,
    peers: deps.peers,
    directEndpoints: deps.directEndpoints,
    ...(deps.endpointTimeoutMs !== undefined && { timeoutMs: deps.endpointTimeoutMs }),
  });
  if (!input.waitSeconds) return connector(link, account.sub, { ...input, clientProofKeyThumbprint: account.cnf.jkt }, call);
  const release = deps.waitSlots.acquire({ account: account.sub, thumbprint: account.cnf.jkt, address: call.sourceAddress ?? '' });
  if (!release) throw new DomainError('too_many_requests', 'rate_limited', 'Too many requests are waiting for approval from this account, device or address; try again in a few seconds.');
  try {
    return await connector(link, account.sub, { ...input, clientProofKeyThumbprint: account.cnf.jkt }, call);
  } finally {
    release();
  }
}

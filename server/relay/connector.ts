// Asks an environment to mint (SPEC §3 steps 4–6, §11) through its tunnel, or its direct endpoint
// when it has no tunnel, and trusts nothing it answers until every signed field matches the
// request and the body. The caller hears only stable reasons, never an upstream status or body.
import type { JWK } from 'jose';
import type { ConnectInput, ConnectResult } from '../../shared/contracts';
import type { Clock } from '../common/clock';
import { DomainError } from '../common/errors';
import { securityLogOf, type SecurityLog } from '../common/security-log';
import { MintProtocolError, signMintRequest, verifyMintResponse } from '../mint/mint-protocol';
import { postToDirectEndpoint, type DirectEndpointPolicy } from './direct-endpoint';
import { exchangeThroughTunnel, routedEndpointOf } from './routing';
import type { RelayLinkRecord } from './store';
import { MINT_PATH, type PeerHop } from './peer-hop';
import { offline, type TunnelHub } from './tunnel-hub';

type SigningKey = Parameters<typeof signMintRequest>[0];

export const ENDPOINT_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 32 * 1024;

export interface ConnectorOptions {
  relayIssuer: string;
  publicUrl: string;
  signingKey: SigningKey;
  clock: Clock;
  tunnels: TunnelHub;
  peers?: PeerHop | undefined;
  directEndpoints: DirectEndpointPolicy;
  timeoutMs?: number;
  securityLog?: SecurityLog | undefined;
}

export interface ConnectCall {
  /** The client's address as the relay saw it, signed into the request (SPEC §11 `source`). */
  sourceAddress?: string | undefined;
  /** Aborts when the client's own request to the relay goes away: the environment frees its wait. */
  signal?: AbortSignal | undefined;
}

/** The `reason` of an environment's JSON refusal, if it has one. */
function refusalReason(body: string): string | null {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed && typeof parsed === 'object' && typeof (parsed as { reason?: unknown }).reason === 'string' ? (parsed as { reason: string }).reason : null;
  } catch {
    return null;
  }
}

export function createConnector(opts: ConnectorOptions) {
  return async function connectThroughLink(
    link: RelayLinkRecord,
    accountId: string,
    input: ConnectInput & { clientProofKeyThumbprint: string },
    call: ConnectCall = {},
  ): Promise<ConnectResult> {
    const local = opts.tunnels.has(link.environmentId);
    const held = local ? null : ((await opts.peers?.locate(link.environmentId)) ?? null);
    const viaTunnel = local || held !== null;
    if (!viaTunnel && !link.endpoint) throw offline();
    const waitSeconds = input.waitSeconds ?? 0;
    const { token, claims } = await signMintRequest(opts.signingKey, {
      relayIssuer: opts.relayIssuer,
      environmentId: link.environmentId,
      accountId,
      clientProofKeyThumbprint: input.clientProofKeyThumbprint,
      ...(input.deviceId !== undefined && { deviceId: input.deviceId }),
      ...(input.client !== undefined && { client: input.client }),
      ...(waitSeconds > 0 && { waitSeconds }),
      ...(call.sourceAddress && { source: { address: call.sourceAddress.slice(0, 64) } }),
      ...(input.invite !== undefined && { invite: input.invite }),
      now: opts.clock.now(),
    });
    const timeout = AbortSignal.timeout((opts.timeoutMs ?? ENDPOINT_TIMEOUT_MS) + waitSeconds * 1000);
    const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
    const body = JSON.stringify({ proof: token });
    let answer: { status: number; body: string };
    try {
      const exchange = { path: MINT_PATH, body, signal, maxBytes: MAX_RESPONSE_BYTES };
      answer = local
        ? await exchangeThroughTunnel(opts.tunnels, link.environmentId, exchange)
        : held
          ? await opts.peers!.exchange(held.internalUrl, link.environmentId, exchange)
          : await postToDirectEndpoint(link.endpoint!, MINT_PATH, body, { policy: opts.directEndpoints, signal, maxBytes: MAX_RESPONSE_BYTES });
    } catch (error) {
      if (timeout.aborted) throw new DomainError('gateway_timeout', 'endpoint_timed_out', 'The environment did not answer in time.');
      if (call.signal?.aborted) throw new DomainError('bad_request', 'invalid_request', 'The request was cancelled.');
      if (error instanceof DomainError) throw error;
      throw new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not be reached.');
    }
    if (answer.status < 200 || answer.status > 299) {
      // The environment's new-client rate limit (S44) reaches the client as such, so it backs off instead of failing.
      if (answer.status === 429) throw new DomainError('too_many_requests', 'rate_limited', 'The environment is getting too many new connection requests right now; try again in a few seconds.');
      const refusal = answer.status === 403 ? refusalReason(answer.body) : null;
      if (refusal === 'new_devices_paused') throw new DomainError('forbidden', 'new_devices_paused', 'This environment is not accepting new devices right now.');
      // One answer for unknown, used, expired, revoked and wrong-key invites (S58).
      if (refusal === 'invite_invalid') throw new DomainError('forbidden', 'invite_invalid', 'This invite cannot be used: it may have expired, been used or been revoked. Ask the owner for a new one.');
      if (answer.status === 409) {
        securityLogOf(opts).record({ kind: 'mint_replayed', where: 'relay environments.connect (environment answered 409)', thumbprint: input.clientProofKeyThumbprint, jti: claims.jti });
      }
      throw new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment refused the request.');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      throw new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment answered with a body that is not JSON.');
    }
    let verified;
    try {
      verified = await verifyMintResponse(parsed, {
        envPublicKey: link.environmentPublicKey as JWK,
        environmentId: link.environmentId,
        relayIssuer: opts.relayIssuer,
        request: claims,
        now: opts.clock.now(),
      });
    } catch (error) {
      if (error instanceof MintProtocolError) throw new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment’s answer failed verification.');
      throw error;
    }
    const endpoint = viaTunnel ? routedEndpointOf(opts.publicUrl, link.environmentId) : link.endpoint!;
    if (verified.status === 'authorized') {
      return { status: 'authorized', environmentId: link.environmentId, endpoint, credential: verified.credential, expiresAt: verified.expiresAt };
    }
    return {
      status: 'pending_approval',
      environmentId: link.environmentId,
      endpoint,
      clientProofKeyThumbprint: input.clientProofKeyThumbprint,
      approvalStatus: verified.approvalStatus,
      requestedAt: verified.requestedAt,
      retryAfterSeconds: Math.min(Math.max(verified.retryAfterSeconds, 1), 300),
    };
  };
}

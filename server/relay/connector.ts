// Asks an environment to mint (SPEC §3 steps 4–6) and trusts nothing it answers until every
// signed field matches the request and the body.
import type { JWK } from 'jose';
import type { ConnectInput, ConnectResult } from '../../shared/contracts';
import type { Clock } from '../common/clock';
import { DomainError } from '../common/errors';
import { securityLogOf, type SecurityLog } from '../common/security-log';
import { MintProtocolError, signMintRequest, verifyMintResponse } from '../mint/mint-protocol';
import type { RelayLinkRecord } from './store';

type SigningKey = Parameters<typeof signMintRequest>[0];

export const ENDPOINT_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 32 * 1024;

export interface ConnectorOptions {
  relayIssuer: string;
  signingKey: SigningKey;
  clock: Clock;
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
  securityLog?: SecurityLog | undefined;
}

async function readLimited(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment answered with an oversized body.');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createConnector(opts: ConnectorOptions) {
  const fetchImpl = opts.fetchImpl ?? fetch;

  return async function connectThroughLink(link: RelayLinkRecord, accountId: string, input: ConnectInput & { clientProofKeyThumbprint: string }): Promise<ConnectResult> {
    const waitSeconds = input.waitSeconds ?? 0;
    const { token, claims } = await signMintRequest(opts.signingKey, {
      relayIssuer: opts.relayIssuer,
      environmentId: link.environmentId,
      accountId,
      clientProofKeyThumbprint: input.clientProofKeyThumbprint,
      ...(input.deviceId !== undefined && { deviceId: input.deviceId }),
      ...(input.client !== undefined && { client: input.client }),
      ...(waitSeconds > 0 && { waitSeconds }),
      now: opts.clock.now(),
    });
    let res: Response;
    try {
      res = await fetchImpl(`${link.endpoint}/api/connect/mint-credential`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ proof: token }),
        redirect: 'manual',
        signal: AbortSignal.timeout((opts.timeoutMs ?? ENDPOINT_TIMEOUT_MS) + waitSeconds * 1000),
      });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw new DomainError('gateway_timeout', 'endpoint_timed_out', 'The environment did not answer in time.');
      throw new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not be reached.');
    }
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel();
      // The environment's new-client rate limit (S44) reaches the client as such, so it backs off instead of failing.
      if (res.status === 429) throw new DomainError('too_many_requests', 'rate_limited', 'The environment is getting too many new connection requests right now; try again in a few seconds.');
      if (res.status === 409) {
        securityLogOf(opts).record({ kind: 'mint_replayed', where: 'relay environments.connect (environment answered 409)', thumbprint: input.clientProofKeyThumbprint, jti: claims.jti });
      }
      throw new DomainError('bad_gateway', 'endpoint_request_failed', `The environment refused the request (HTTP ${res.status}).`);
    }
    let body: unknown;
    try {
      body = JSON.parse(await readLimited(res));
    } catch (error) {
      if (error instanceof DomainError) throw error;
      if ((error as Error).name === 'TimeoutError') throw new DomainError('gateway_timeout', 'endpoint_timed_out', 'The environment did not answer in time.');
      throw new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment answered with a body that is not JSON.');
    }
    let verified;
    try {
      verified = await verifyMintResponse(body, {
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
    if (verified.status === 'authorized') {
      return { status: 'authorized', environmentId: link.environmentId, endpoint: link.endpoint, credential: verified.credential, expiresAt: verified.expiresAt };
    }
    return {
      status: 'pending_approval',
      environmentId: link.environmentId,
      endpoint: link.endpoint,
      clientProofKeyThumbprint: input.clientProofKeyThumbprint,
      approvalStatus: verified.approvalStatus,
      requestedAt: verified.requestedAt,
      retryAfterSeconds: Math.min(Math.max(verified.retryAfterSeconds, 1), 300),
    };
  };
}

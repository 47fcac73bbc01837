// Links this environment to a relay (SPEC §3 step 0) and unlinks it, speaking to the relay over HTTP.
import type { JWK } from 'jose';
import { z } from 'zod';
import { DomainError } from '../../common/errors';
import { signLinkProof, signUnlinkProof } from '../../mint/link-proof';
import type { SigningKey } from '../../common/keys';
import type { EnvDeps } from '../deps';
import { deleteRelayLink, readRelayLink, saveRelayLink, type RelayLink } from './link.service';

const RelayInfo = z.object({ issuer: z.string().min(1), publicKey: z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string() }).passthrough() });
const LinkAnswer = z.object({
  environmentId: z.string(),
  accountId: z.string(),
  relayIssuer: z.string(),
  relayPublicKey: z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string() }).passthrough(),
  routedEndpoint: z.url({ protocol: /^https?$/ }).max(2048),
  deviceOrigin: z.url({ protocol: /^https?$/ }).max(2048).nullable().optional(),
});

async function relayJson(url: string, init: RequestInit, what: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new DomainError('bad_gateway', 'endpoint_request_failed', `Could not reach the relay at ${new URL(url).origin} (${what}). Is it running?`);
  }
  const body = (await res.json().catch(() => null)) as { message?: string } | null;
  if (!res.ok) {
    const message = typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`;
    throw new DomainError(res.status === 409 ? 'conflict' : res.status >= 500 ? 'bad_gateway' : 'bad_request', res.status === 409 ? 'environment_link_conflict' : 'endpoint_request_failed', `The relay refused ${what}: ${message}`);
  }
  return body;
}

export interface LinkContext {
  deps: EnvDeps;
  environmentId: string;
  signingKey: SigningKey;
  /** A direct endpoint to give the relay (SPEC §11); absent: reached through the tunnel only. */
  directEndpoint?: string | undefined;
}

export async function linkToRelay(ctx: LinkContext, relayUrl: string, idToken: string): Promise<RelayLink> {
  const base = relayUrl.replace(/\/+$/, '');
  const info = RelayInfo.parse(await relayJson(`${base}/.well-known/gatehouse-relay`, { method: 'GET' }, 'the discovery request'));
  const proof = await signLinkProof(ctx.signingKey.privateKey, {
    environmentId: ctx.environmentId,
    environmentPublicKey: ctx.signingKey.publicJwk,
    endpoint: ctx.directEndpoint,
    relayIssuer: info.issuer,
    now: ctx.deps.clock.now(),
  });
  const answer = LinkAnswer.parse(
    await relayJson(`${base}/v1/links`, { method: 'POST', headers: { authorization: `Bearer ${idToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ proof }) }, 'the link'),
  );
  const routedOk = new URL(answer.routedEndpoint).origin === new URL(base).origin || new URL(answer.routedEndpoint).origin === new URL(info.issuer).origin;
  if (answer.environmentId !== ctx.environmentId || answer.relayIssuer !== info.issuer || answer.relayPublicKey.x !== info.publicKey.x || !routedOk || !answer.routedEndpoint.endsWith(`/e/${ctx.environmentId}`)) {
    throw new DomainError('bad_gateway', 'endpoint_response_invalid', 'The relay’s link answer does not match what it announced; nothing was stored.');
  }
  return saveRelayLink(ctx.deps, {
    relayUrl: base,
    relayIssuer: answer.relayIssuer,
    relayPublicKey: answer.relayPublicKey as JWK,
    accountId: answer.accountId,
    routedEndpoint: answer.routedEndpoint.replace(/\/+$/, ''),
    deviceOrigin: answer.deviceOrigin ?? null,
  });
}

/** Removes the link at the relay (best effort) and here; clients and the mode are kept. */
export async function unlinkFromRelay(ctx: LinkContext): Promise<{ linked: false; relayReached: boolean }> {
  const link = readRelayLink(ctx.deps);
  if (!link) return { linked: false, relayReached: true };
  let relayReached = true;
  try {
    const proof = await signUnlinkProof(ctx.signingKey.privateKey, { environmentId: ctx.environmentId, relayIssuer: link.relayIssuer, now: ctx.deps.clock.now() });
    await relayJson(`${link.relayUrl}/v1/links/${ctx.environmentId}`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof }) }, 'the unlink');
  } catch {
    relayReached = false;
  }
  deleteRelayLink(ctx.deps);
  return { linked: false, relayReached };
}

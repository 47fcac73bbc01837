// The client runtime's connect flow (SPEC §3): account token → relay token → connect (with wait)
// → redeem → a DPoP-bound session on the environment. Works in Node and in the browser.
import { createTRPCClient, createTRPCUntypedClient, httpBatchLink, httpLink, TRPCClientError } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { ConnectResult, WhoAmI, type ClientInfo } from '../contracts';
import { createDpopProof, type DpopSigner } from '../dpop';
import { verificationCode } from '../verification-code';
import { dpopFetch } from './dpop-fetch';
import { inviteProof, type InviteSecret } from '../invite';
import { ConnectFailedError, ConnectionBlockedError, NEW_DEVICES_PAUSED_DETAIL, PENDING_DETAIL, REJECTED_DETAIL } from './errors';

export const DEFAULT_WAIT_SECONDS = 25;
/** Retries of a waiting client when the relay or environment is away: full jitter, 1 s doubling to 30 s. */
export const RETRY_BASE_MS = 1_000;
export const RETRY_MAX_MS = 30_000;
/** Failures a waiting client outlives: the relay or environment restarting, a full wait queue. */
const RETRYABLE = new Set(['environment_offline', 'rate_limited', 'network', 'relay_error', 'endpoint_request_failed', 'endpoint_timed_out', 'unavailable']);

export interface RetryInfo {
  reason: string;
  message: string;
  retryInMs: number;
}
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export interface PendingInfo {
  approvalStatus: 'pending' | 'rejected';
  requestedAt: string;
  retryAfterSeconds: number;
  clientProofKeyThumbprint: string;
  verificationCode: string;
}

export interface ConnectOptions {
  relayUrl: string;
  environmentId: string;
  signer: DpopSigner;
  /** An account ID token from the account issuer (dev issuer or any OpenID provider). */
  getIdToken: () => Promise<string>;
  client?: ClientInfo;
  deviceId?: string;
  /** Hold each request open on the environment until the owner decides (default true). */
  wait?: boolean;
  waitSeconds?: number;
  onPending?: (info: PendingInfo) => void;
  /** Told before each retry while the relay or environment is away (only when waiting). */
  onRetry?: (info: RetryInfo) => void;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Random in [0, 1) for the retry jitter; tests pin it. */
  random?: () => number;
  /** An invite from the owner (SPEC §13): presented with a proof bound to this key, it is approved at once. */
  invite?: InviteSecret;
}

/** Sleeps `ms`, or rejects at once when the signal aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface EnvSession {
  environmentId: string;
  endpoint: string;
  accessToken: string;
  expiresAt: number;
}

async function postForm(fetchImpl: typeof fetch, url: string, form: Record<string, string>, signer: DpopSigner, signal?: AbortSignal) {
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: url }) },
      body: new URLSearchParams(form).toString(),
      ...(signal && { signal }),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ConnectFailedError(`Could not reach ${new URL(url).origin}.`, 'network');
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { res, body };
}

/** Relay token exchange (SPEC §3 step 2). */
export async function getRelayAccessToken(opts: Pick<ConnectOptions, 'relayUrl' | 'signer' | 'getIdToken' | 'signal' | 'fetch'>): Promise<{ token: string; expiresAt: number }> {
  let idToken: string;
  try {
    idToken = await opts.getIdToken();
  } catch (error) {
    if (error instanceof ConnectionBlockedError || error instanceof ConnectFailedError) throw error;
    throw new ConnectionBlockedError({ reason: 'authentication', detail: `Could not sign in to your account: ${(error as Error).message}` });
  }
  const { res, body } = await postForm(opts.fetch ?? fetch, `${opts.relayUrl}/oauth/token`, {
    grant_type: TOKEN_EXCHANGE,
    subject_token: idToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
  }, opts.signer, opts.signal);
  if (res.status >= 500) throw new ConnectFailedError(`The relay could not answer: ${String(body.message ?? `HTTP ${res.status}`)}`, String(body.reason ?? 'relay_error'), res.status);
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new ConnectionBlockedError({ reason: 'authentication', detail: `The relay refused your account token: ${String(body.message ?? `HTTP ${res.status}`)}` });
  }
  return { token: body.access_token, expiresAt: Date.now() + Number(body.expires_in ?? 0) * 1000 };
}

/** Credential → session at the environment (SPEC §3 step 7), proved with the same key. */
export async function redeemCredential(opts: { endpoint: string; credential: string; signer: DpopSigner; fetch?: typeof fetch; signal?: AbortSignal }): Promise<{ accessToken: string; expiresAt: number }> {
  const { res, body } = await postForm(opts.fetch ?? fetch, `${opts.endpoint}/oauth/token`, {
    grant_type: TOKEN_EXCHANGE,
    subject_token: opts.credential,
    subject_token_type: 'urn:gatehouse:token-type:connect-credential',
  }, opts.signer, opts.signal);
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new ConnectFailedError(`The environment refused the credential: ${String(body.message ?? `HTTP ${res.status}`)}`, String(body.reason ?? 'invalid_grant'), res.status);
  }
  return { accessToken: body.access_token, expiresAt: Date.now() + Number(body.expires_in ?? 0) * 1000 };
}

function mapRelayError(error: unknown, relayUrl: string): never {
  if (error instanceof TRPCClientError) {
    const data = (error.data ?? {}) as { reason?: string; code?: string; httpStatus?: number };
    if (data.reason === 'environment_link_not_found') {
      // Name the relay asked: with several on one machine, the wrong one is the usual cause.
      throw new ConnectionBlockedError({
        reason: 'configuration',
        detail: `This environment is not linked to your account at the relay ${relayUrl}. Check the environment id, that this is the relay it is linked to, and the account you signed in with.`,
      });
    }
    if (data.reason === 'invite_invalid') throw new ConnectionBlockedError({ reason: 'permission', detail: error.message });
    if (data.reason === 'new_devices_paused') throw new ConnectionBlockedError({ reason: 'permission', detail: NEW_DEVICES_PAUSED_DETAIL });
    if (data.code === 'UNAUTHORIZED') throw new ConnectionBlockedError({ reason: 'authentication', detail: `The relay refused the request: ${error.message}` });
    if (data.code === 'BAD_REQUEST' && data.reason === 'invalid_input') throw new ConnectionBlockedError({ reason: 'unsupported', detail: error.message });
    throw new ConnectFailedError(error.message, data.reason ?? 'relay_error', data.httpStatus);
  }
  throw error;
}

/** Connects this client's key to an environment, waiting for approval when asked to. */
export async function connectToEnvironment(opts: ConnectOptions): Promise<EnvSession> {
  const fetchImpl = opts.fetch ?? fetch;
  const code = await verificationCode(opts.signer.thumbprint);
  let relayToken = await getRelayAccessToken(opts);
  const relay = createTRPCUntypedClient({
    links: [httpLink({ url: `${opts.relayUrl}/trpc`, fetch: dpopFetch(opts.signer, () => relayToken.token, fetchImpl) })],
  });
  const wait = opts.wait ?? true;
  const invite = opts.invite ? { inviteId: opts.invite.inviteId, proof: await inviteProof(opts.invite.secret, opts.signer.thumbprint) } : undefined;
  const random = opts.random ?? Math.random;
  // The first ask answers at once, so the client can show its code before the long waits begin.
  let holdOpen = false;
  let failures = 0;
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    let raw: unknown;
    const askedAt = Date.now();
    try {
      if (relayToken.expiresAt - Date.now() < 60_000) relayToken = await getRelayAccessToken(opts);
      raw = await relay.mutation(
        'environments.connect',
        {
          environmentId: opts.environmentId,
          clientProofKeyThumbprint: opts.signer.thumbprint,
          ...(opts.deviceId !== undefined && { deviceId: opts.deviceId }),
          ...(opts.client !== undefined && { client: opts.client }),
          ...(invite && { invite }),
          ...(holdOpen && { waitSeconds: opts.waitSeconds ?? DEFAULT_WAIT_SECONDS }),
        },
        { signal: opts.signal },
      );
    } catch (error) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? error;
      let failure: unknown = error;
      try {
        mapRelayError(error, opts.relayUrl);
      } catch (mapped) {
        failure = mapped;
      }
      // While waiting, a relay or environment that is away is waited for, with backoff and jitter.
      if (!wait || !(failure instanceof ConnectFailedError) || !RETRYABLE.has(failure.reason)) throw failure;
      const retryInMs = Math.floor(random() * Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** failures));
      failures += 1;
      opts.onRetry?.({ reason: failure.reason, message: failure.message, retryInMs });
      await pause(retryInMs, opts.signal);
      continue;
    }
    failures = 0;
    const answer = ConnectResult.parse(raw);
    if (answer.status === 'authorized') {
      const session = await redeemCredential({ endpoint: answer.endpoint, credential: answer.credential, signer: opts.signer, fetch: fetchImpl, ...(opts.signal && { signal: opts.signal }) });
      return { environmentId: answer.environmentId, endpoint: answer.endpoint, ...session };
    }
    const info: PendingInfo = {
      approvalStatus: answer.approvalStatus,
      requestedAt: answer.requestedAt,
      retryAfterSeconds: answer.retryAfterSeconds,
      clientProofKeyThumbprint: answer.clientProofKeyThumbprint,
      verificationCode: code,
    };
    opts.onPending?.(info);
    if (answer.approvalStatus === 'rejected') {
      throw new ConnectionBlockedError({ reason: 'permission', approvalStatus: 'rejected', detail: REJECTED_DETAIL });
    }
    if (!wait) {
      throw new ConnectionBlockedError({ reason: 'permission', approvalStatus: 'pending', detail: PENDING_DETAIL, retryAfterSeconds: answer.retryAfterSeconds });
    }
    // A held wait that came back early (the environment could not hold it) is not a reason to ask
    // again at once: honour retryAfterSeconds, with jitter so many clients do not ask in step.
    const heldFor = Date.now() - askedAt;
    if (holdOpen && heldFor < (opts.waitSeconds ?? DEFAULT_WAIT_SECONDS) * 1000 - 1000) {
      await pause(answer.retryAfterSeconds * 1000 * (0.5 + random() / 2), opts.signal);
    }
    holdOpen = true;
  }
}

/** A typed tRPC client for the environment, every call carrying the session and a fresh proof. */
export function createEnvClient<TRouter extends AnyRouter>(session: EnvSession, signer: DpopSigner, fetchImpl: typeof fetch = fetch) {
  const link = httpBatchLink({ url: `${session.endpoint}/trpc`, fetch: dpopFetch(signer, () => session.accessToken, fetchImpl), maxItems: 1 } as never);
  return createTRPCClient<TRouter>({ links: [link] });
}

/** `client.whoami`, validated against the shared contract. */
export async function fetchWhoAmI(session: EnvSession, signer: DpopSigner, fetchImpl: typeof fetch = fetch) {
  const client = createTRPCUntypedClient({ links: [httpLink({ url: `${session.endpoint}/trpc`, fetch: dpopFetch(signer, () => session.accessToken, fetchImpl) })] });
  return WhoAmI.parse(await client.query('client.whoami'));
}

// The /device page's flow (SPEC §3, §7): dev-issuer sign-in, connect with wait, whoami, and the
// live `client.session` stream that ends the moment the owner revokes or rejects this device.
import { createTRPCClient, httpSubscriptionLink, TRPCClientError } from '@trpc/client';
import { EventSource } from 'eventsource';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { EnvRouter } from '../../../server/env/trpc/app-router';
import { connectToEnvironment, fetchWhoAmI, type EnvSession } from '../../../shared/client/connect';
import { dpopFetch } from '../../../shared/client/dpop-fetch';
import { ConnectionBlockedError, ConnectFailedError } from '../../../shared/client/errors';
import type { ClientInfo, WhoAmI } from '../../../shared/contracts';
import { createDpopSigner, type DpopSigner } from '../../../shared/dpop';
import { gatehouseSoftware } from '../../../shared/software';
import { verificationCode } from '../../../shared/verification-code';
import { currentBrowserFacts, describeBrowser } from './device-info';
import { inviteFromUrl } from './invite-from-url';
import { deviceIdentity } from './key-store';

/** The dev issuer's account the embedded default links the environment to. */
export const DEV_ACCOUNT = 'owner';

export interface DeviceContext {
  environmentId: string;
  relayUrl: string;
  signer: DpopSigner;
  deviceId: string;
  code: string;
  /** Whether this origin also serves the owner's pages (not on the environment's origin at the relay). */
  ownerPages: boolean;
  info: ClientInfo & { deviceType: NonNullable<ClientInfo['deviceType']> };
}

export type DevicePhase =
  | { kind: 'loading' }
  | { kind: 'unavailable'; message: string }
  | { kind: 'ready' }
  | { kind: 'signing-in' }
  | { kind: 'asking' }
  | { kind: 'waiting'; requestedAt: string }
  | { kind: 'connected'; whoami: WhoAmI; session: EnvSession; signer: DpopSigner }
  | { kind: 'rejected'; detail: string }
  | { kind: 'revoked' }
  | { kind: 'expired' }
  | { kind: 'failed'; message: string };

async function loadContext(): Promise<DeviceContext> {
  const res = await fetch('/api/connect/config', { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`The environment did not answer (HTTP ${res.status}).`);
  const config = (await res.json()) as { environmentId?: string; relayUrl?: string | null; ownerPages?: boolean };
  if (!config.environmentId) throw new Error('The environment did not say who it is.');
  if (!config.relayUrl) throw new Error('This environment is not linked to a relay yet. Link it first: npx gatehouse connect link --relay URL --account NAME');
  const identity = await deviceIdentity();
  const signer = await createDpopSigner(identity.keyPair);
  return {
    environmentId: config.environmentId,
    relayUrl: config.relayUrl.replace(/\/+$/, ''),
    signer,
    deviceId: identity.deviceId,
    code: await verificationCode(signer.thumbprint),
    ownerPages: config.ownerPages !== false,
    info: { ...describeBrowser(currentBrowserFacts()), software: gatehouseSoftware('web') },
  };
}

/** An account ID token from the relay's dev issuer (embedded default, loopback only). */
async function devIdToken(relayUrl: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(`${relayUrl}/dev-issuer/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: DEV_ACCOUNT }),
    signal,
  });
  const body = (await res.json().catch(() => ({}))) as { id_token?: string; message?: string };
  if (!res.ok || typeof body.id_token !== 'string') throw new Error(body.message ?? `the dev account issuer answered HTTP ${res.status}`);
  return body.id_token;
}

/** `client.session`: each (re)connect of the stream carries the session token and a fresh proof. */
function watchSession(session: EnvSession, signer: DpopSigner, onEnd: (why: 'revoked' | 'expired' | 'lost', message?: string) => void) {
  const client = createTRPCClient<EnvRouter>({
    links: [
      httpSubscriptionLink({
        url: `${session.endpoint}/trpc`,
        EventSource,
        eventSourceOptions: { fetch: dpopFetch(signer, () => session.accessToken) },
      }),
    ],
  });
  let done = false;
  const finish = (why: 'revoked' | 'expired' | 'lost', message?: string) => {
    if (done) return;
    done = true;
    subscription.unsubscribe();
    onEnd(why, message);
  };
  const subscription = client.client.session.subscribe(undefined, {
    onData(state) {
      if (state.status === 'ended') finish(state.reason);
    },
    onError(error) {
      const unauthorized = error instanceof TRPCClientError && (error.data as { code?: string } | undefined)?.code === 'UNAUTHORIZED';
      if (Date.now() >= session.expiresAt) finish('expired');
      else if (unauthorized) finish('revoked');
      else finish('lost', error.message);
    },
  });
  return () => {
    done = true;
    subscription.unsubscribe();
  };
}

export function useDeviceConnection() {
  const [context, setContext] = useState<DeviceContext | null>(null);
  const [phase, setPhase] = useState<DevicePhase>({ kind: 'loading' });
  const abortRef = useRef<AbortController | null>(null);
  const stopWatchRef = useRef<(() => void) | null>(null);

  useEffect(() => {
    let cancelled = false;
    loadContext().then(
      (ctx) => {
        if (cancelled) return;
        setContext(ctx);
        setPhase({ kind: 'ready' });
      },
      (error: unknown) => !cancelled && setPhase({ kind: 'unavailable', message: (error as Error).message }),
    );
    return () => {
      cancelled = true;
      abortRef.current?.abort();
      stopWatchRef.current?.();
    };
  }, []);

  const connect = useCallback(async () => {
    if (!context || abortRef.current) return;
    const abort = new AbortController();
    abortRef.current = abort;
    stopWatchRef.current?.();
    setPhase({ kind: 'signing-in' });
    try {
      const session = await connectToEnvironment({
        relayUrl: context.relayUrl,
        environmentId: context.environmentId,
        signer: context.signer,
        getIdToken: async () => {
          const token = await devIdToken(context.relayUrl, abort.signal);
          setPhase({ kind: 'asking' });
          return token;
        },
        client: context.info,
        deviceId: context.deviceId,
        ...(inviteFromUrl() && { invite: inviteFromUrl() }),
        wait: true,
        onPending: (info) => {
          if (info.approvalStatus === 'pending') setPhase({ kind: 'waiting', requestedAt: info.requestedAt });
        },
        signal: abort.signal,
      });
      const whoami = await fetchWhoAmI(session, context.signer);
      if (abort.signal.aborted) return;
      setPhase({ kind: 'connected', whoami, session, signer: context.signer });
      stopWatchRef.current = watchSession(session, context.signer, (why, message) => {
        stopWatchRef.current = null;
        if (why === 'lost') setPhase({ kind: 'failed', message: `Lost the connection to the environment: ${message ?? 'unknown error'}` });
        else setPhase({ kind: why });
      });
    } catch (error) {
      if (abort.signal.aborted) return;
      if (error instanceof ConnectionBlockedError && error.approvalStatus === 'rejected') setPhase({ kind: 'rejected', detail: error.detail });
      else if (error instanceof ConnectionBlockedError) setPhase({ kind: 'failed', message: error.detail });
      else if (error instanceof ConnectFailedError) setPhase({ kind: 'failed', message: error.message });
      else setPhase({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
    } finally {
      if (abortRef.current === abort) abortRef.current = null;
    }
  }, [context]);

  /** Stops waiting, or forgets the session held in this page. */
  const disconnect = useCallback(() => {
    abortRef.current?.abort();
    abortRef.current = null;
    stopWatchRef.current?.();
    stopWatchRef.current = null;
    setPhase({ kind: 'ready' });
  }, []);

  return { context, phase, connect, disconnect };
}

// The /device page's flow (SPEC §3, §7, §15): account sign-in at the relay's OpenID provider (code +
// PKCE), connect with wait, whoami, and the live `client.session` stream that ends the moment the
// owner revokes or rejects this device.
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
import type { InviteSecret } from '../../../shared/invite';
import { beginSignIn, completeSignIn, freshIdToken, signedInAccount, signOut as forgetAccount, type SignedInAccount } from './account-sign-in';
import { inviteFromUrl } from './invite-from-url';
import { deviceIdentity } from './key-store';
import { settleStagedRotation, type RotationNotice } from './rotate-key';

export interface DeviceContext {
  environmentId: string;
  relayUrl: string;
  signer: DpopSigner;
  deviceId: string;
  code: string;
  /** Whether this origin also serves the owner's pages (not on the environment's origin at the relay). */
  ownerPages: boolean;
  /** How a key rotation an earlier page left unfinished ended, on this load (null: there was none). */
  settledRotation: RotationNotice | null;
  info: ClientInfo & { deviceType: NonNullable<ClientInfo['deviceType']> };
}

export type DevicePhase =
  | { kind: 'loading' }
  | { kind: 'unavailable'; message: string }
  | { kind: 'ready' }
  | { kind: 'signing-in' }
  | { kind: 'sign-in-failed'; message: string }
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
  // Before the key is used: a rotation left half done decides which key this device has.
  const settledRotation = await settleStagedRotation();
  const identity = await deviceIdentity();
  const signer = await createDpopSigner(identity.keyPair);
  return {
    environmentId: config.environmentId,
    relayUrl: config.relayUrl.replace(/\/+$/, ''),
    signer,
    deviceId: identity.deviceId,
    code: await verificationCode(signer.thumbprint),
    ownerPages: config.ownerPages !== false,
    settledRotation,
    info: { ...describeBrowser(currentBrowserFacts()), software: gatehouseSoftware('web') },
  };
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
  const [account, setAccount] = useState<SignedInAccount | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const stopWatchRef = useRef<(() => void) | null>(null);
  /** An invite carried through the provider and back (the fragment that held it is gone by then). */
  const inviteRef = useRef<InviteSecret | undefined>(undefined);
  const autoConnectRef = useRef(false);

  useEffect(() => {
    let cancelled = false;
    const invite = inviteFromUrl();
    (async () => {
      const ctx = await loadContext();
      if (cancelled) return;
      setContext(ctx);
      try {
        const back = await completeSignIn();
        if (cancelled) return;
        inviteRef.current = invite ?? back?.invite;
        setAccount(back?.account ?? signedInAccount());
        autoConnectRef.current = back?.thenConnect === true;
        setPhase({ kind: 'ready' });
      } catch (error) {
        if (cancelled) return;
        inviteRef.current = invite;
        setAccount(signedInAccount());
        setPhase({ kind: 'sign-in-failed', message: (error as Error).message });
      }
    })().catch((error: unknown) => !cancelled && setPhase({ kind: 'unavailable', message: (error as Error).message }));
    return () => {
      cancelled = true;
      abortRef.current?.abort();
      stopWatchRef.current?.();
    };
  }, []);

  /** Leaves for the account provider; the page comes back through the relay's sign-in callback. */
  const signIn = useCallback(
    async (thenConnect: boolean) => {
      if (!context) return;
      setPhase({ kind: 'signing-in' });
      try {
        await beginSignIn(context.relayUrl, { thenConnect, ...(inviteRef.current && { invite: inviteRef.current }) });
      } catch (error) {
        setPhase({ kind: 'sign-in-failed', message: (error as Error).message });
      }
    },
    [context],
  );

  const connect = useCallback(async () => {
    if (!context || abortRef.current) return;
    const idToken = account ? await freshIdToken(account) : null;
    if (!idToken) return signIn(true);
    const abort = new AbortController();
    abortRef.current = abort;
    stopWatchRef.current?.();
    setPhase({ kind: 'asking' });
    try {
      const session = await connectToEnvironment({
        relayUrl: context.relayUrl,
        environmentId: context.environmentId,
        signer: context.signer,
        getIdToken: async () => idToken,
        client: context.info,
        deviceId: context.deviceId,
        ...(inviteRef.current && { invite: inviteRef.current }),
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
  }, [context, account, signIn]);

  // Back from the provider after pressing Connect: go on where the person left off.
  useEffect(() => {
    if (autoConnectRef.current && context && account && phase.kind === 'ready') {
      autoConnectRef.current = false;
      void connect();
    }
  }, [context, account, phase.kind, connect]);

  /** Stops waiting, or forgets the session held in this page. */
  const disconnect = useCallback(() => {
    abortRef.current?.abort();
    abortRef.current = null;
    stopWatchRef.current?.();
    stopWatchRef.current = null;
    setPhase({ kind: 'ready' });
  }, []);

  /** Forgets the account tokens (and any session this page holds); the next Connect signs in again. */
  const signOut = useCallback(() => {
    disconnect();
    forgetAccount();
    setAccount(null);
  }, [disconnect]);

  return { context, phase, account, connect, disconnect, signIn: () => void signIn(false), signOut };
}

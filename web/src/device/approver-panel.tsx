// On an approver device's /device page (SPEC §13, S59): the devices waiting for approval, with their
// codes, and Approve (for 24 hours; an approver's approvals always end) / Reject. Nothing for others.
// The list is live (`client.approvals`); if that stream cannot be held it is read every 10 seconds.
import { createTRPCClient, httpSubscriptionLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApproverEvent } from '../../../server/env/connect/approver-events.service';
import type { EnvRouter } from '../../../server/env/trpc/app-router';
import { createEnvClient, type EnvSession } from '../../../shared/client/connect';
import { dpopFetch } from '../../../shared/client/dpop-fetch';
import type { ConnectClient } from '../../../shared/contracts';
import type { DpopSigner } from '../../../shared/dpop';

const APPROVE_SECONDS = 86_400;

/** One event of the live waiting list applied to what the panel shows (null: no panel). */
function applyEvent(list: ConnectClient[] | null, event: ApproverEvent): ConnectClient[] | null {
  switch (event.type) {
    case 'snapshot':
      return event.pending;
    case 'pending':
      return [...(list ?? []).filter((c) => c.clientProofKeyThumbprint !== event.client.clientProofKeyThumbprint), event.client];
    case 'decided':
      return (list ?? []).filter((c) => c.clientProofKeyThumbprint !== event.clientProofKeyThumbprint);
    case 'ended':
      return null;
  }
}

export function ApproverPanel({ session, signer }: { session: EnvSession; signer: DpopSigner }) {
  const client = useRef(createEnvClient<EnvRouter>(session, signer));
  const [pending, setPending] = useState<ConnectClient[] | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const busy = useRef(false);

  const load = useCallback(async () => {
    try {
      // Asked first, so a device that is not an approver never meets a refusal (and its console stays clean).
      if (!(await client.current.client.approver.query()).approver) return setPending(null);
      const page = await client.current.connect.clients.list.query({ status: 'pending', limit: 500 });
      setPending(page.items.filter((c) => c.clientProofKeyThumbprint !== signer.thumbprint));
    } catch {
      setPending(null); // not an approver: the panel stays away
    }
  }, [signer.thumbprint]);

  useEffect(() => {
    let stopped = false;
    let asking = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    let subscription: { unsubscribe(): void } | undefined;
    const poll = () => {
      if (stopped || timer) return;
      void load();
      timer = setInterval(() => void load(), 10_000);
    };
    const live = createTRPCClient<EnvRouter>({
      links: [httpSubscriptionLink({ url: `${session.endpoint}/trpc`, EventSource, eventSourceOptions: { fetch: dpopFetch(signer, () => session.accessToken) } })],
    });
    /** Opens the live list if this device is an approver now (and it is not open or polled already). */
    const start = async () => {
      if (stopped || asking || subscription || timer) return;
      asking = true;
      try {
        // Asked first, so a device that is not an approver opens no stream it would be refused.
        const approver = await client.current.client.approver.query().then((a) => a.approver, () => false);
        if (stopped || !approver) return;
        const opened = live.client.approvals.subscribe(undefined, {
          onData: (event: ApproverEvent) => {
            setPending((list) => applyEvent(list, event));
            if (event.type === 'ended') close(opened);
          },
          onError: () => {
            close(opened);
            poll();
          },
          onComplete: () => close(opened),
        });
        subscription = opened;
      } finally {
        asking = false;
      }
    };
    const close = (which: { unsubscribe(): void }) => {
      which.unsubscribe();
      if (subscription === which) subscription = undefined;
    };
    // The owner may make this device an approver while its page is open: look again when it is looked at.
    const onVisible = () => document.visibilityState === 'visible' && void start();
    void start();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    return () => {
      stopped = true;
      subscription?.unsubscribe();
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
    };
  }, [load, session, signer]);

  const decide = async (c: ConnectClient, decision: 'approve' | 'reject') => {
    if (busy.current) return;
    busy.current = true;
    try {
      if (decision === 'approve') await client.current.connect.clients.approve.mutate({ clientProofKeyThumbprint: c.clientProofKeyThumbprint, expiresInSeconds: APPROVE_SECONDS });
      else await client.current.connect.clients.reject.mutate({ clientProofKeyThumbprint: c.clientProofKeyThumbprint });
      setMessage(`${decision === 'approve' ? 'Approved for 24 hours' : 'Rejected'}: ${c.client.label ?? c.verificationCode}.`);
      await load();
    } catch (error) {
      setMessage(`Could not ${decision}: ${(error as Error).message}`);
    } finally {
      busy.current = false;
    }
  };

  if (pending === null) return null;
  return (
    <section className="approver-panel" aria-labelledby="approver-heading">
      <h2 id="approver-heading">Devices waiting for approval</h2>
      {message && <p role="status">{message}</p>}
      {pending.length === 0 ? (
        <p className="muted">No device is waiting.</p>
      ) : (
        <ul className="clients" aria-label="Devices waiting for approval">
          {pending.map((c) => (
            <li key={c.clientProofKeyThumbprint} className="client">
              <div className="client-main">
                <h3 className="client-title">
                  <bdi>{c.name ?? c.client.label ?? 'Unnamed device'}</bdi>
                </h3>
                <p>
                  Code <code className="code">{c.verificationCode}</code>
                </p>
              </div>
              <div className="client-actions">
                <button type="button" className="button button-small button-primary" onClick={() => void decide(c, 'approve')}>
                  Approve
                </button>
                <button type="button" className="button button-small" onClick={() => void decide(c, 'reject')}>
                  Reject
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

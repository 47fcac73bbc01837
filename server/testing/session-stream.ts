// A client's `client.session` event stream (SSE) through the relay, for tests of its ending.
import { createTRPCClient, httpSubscriptionLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { EnvSession } from '../../shared/client/connect';
import { dpopFetch } from '../../shared/client/dpop-fetch';
import type { DpopSigner } from '../../shared/dpop';
import type { EnvRouter } from '../env/trpc/app-router';

/** The client.session stream through the relay; resolves with its events until it ends. */
export function sessionStream(session: EnvSession, signer: DpopSigner, fetchImpl: typeof fetch = fetch) {
  const events: string[] = [];
  const client = createTRPCClient<EnvRouter>({
    links: [
      httpSubscriptionLink({
        url: `${session.endpoint}/trpc`,
        EventSource: EventSource as never,
        eventSourceOptions: () => ({ fetch: dpopFetch(signer, () => session.accessToken, fetchImpl) }) as never,
      }),
    ],
  });
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  let started!: () => void;
  const active = new Promise<void>((r) => (started = r));
  const sub = client.client.session.subscribe(undefined, {
    onData: (e) => {
      const status = e.status === 'ended' ? `ended:${e.reason}` : e.status;
      events.push(status);
      if (status === 'active') started();
      if (status !== 'active') ended();
    },
    onError: () => ended(),
    onComplete: () => ended(),
  });
  return { events, done, active, stop: () => sub.unsubscribe() };
}

// The page's live view of access: one `access.events` stream, resumed with the last event id.
import { useEffect, useReducer, useRef, useState } from 'react';
import { errorData, describeError } from '../lib/errors';
import type { ConnectClient, OwnerClient } from '../trpc';
import { initialAccessState, newlyAsking, reduceAccess } from './access-state';

export type LiveStatus =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; message: string | null }
  | { kind: 'signed-out' };

const RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000];

export function useAccessEvents(client: OwnerClient, onNewlyAsking: (clients: ConnectClient[]) => void) {
  const [state, dispatch] = useReducer(reduceAccess, initialAccessState);
  const [live, setLive] = useState<LiveStatus>({ kind: 'connecting' });
  const [revision, bumpRevision] = useReducer((n: number) => n + 1, 0);
  const notify = useRef(onNewlyAsking);
  notify.current = onNewlyAsking;

  useEffect(() => {
    // The last event id survives restarts of the stream, so a reconnect receives only what it missed.
    let lastEventId: string | undefined;
    const pending = new Set<string>();
    let attempt = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let subscription: { unsubscribe(): void } | undefined;
    let stopped = false;

    const start = () => {
      let ended = false;
      const restartLater = (message: string | null) => {
        if (stopped || ended) return;
        ended = true;
        setLive({ kind: 'reconnecting', message });
        retry = setTimeout(start, RETRY_DELAYS_MS[Math.min(attempt++, RETRY_DELAYS_MS.length - 1)]);
      };
      subscription = client.access.events.subscribe(lastEventId ? { lastEventId } : {}, {
        onData({ id, data }) {
          lastEventId = id;
          attempt = 0;
          setLive({ kind: 'live' });
          const asking = newlyAsking(pending, data);
          dispatch({ type: 'event', event: data });
          bumpRevision();
          if (asking.length > 0) notify.current(asking);
        },
        onConnectionStateChange(change) {
          if (change.state === 'connecting' && change.error) setLive({ kind: 'reconnecting', message: describeError(change.error) });
        },
        onError(error) {
          if (stopped) return;
          if (errorData(error).code === 'UNAUTHORIZED') {
            ended = true;
            setLive({ kind: 'signed-out' });
            return;
          }
          restartLater(describeError(error));
        },
        // The server ended the stream (it is shutting down): come back when it does.
        onComplete: () => restartLater(null),
      });
    };
    start();
    return () => {
      stopped = true;
      clearTimeout(retry);
      subscription?.unsubscribe();
    };
  }, [client]);

  return { state, live, dispatch, revision };
}

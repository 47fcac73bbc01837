// The page's live view of access: one `access.events` stream opened with a summary (the mode and
// the counts) and resumed with the last event id, plus the rows of the current search and filter
// loaded page by page through `connect.clients.list` once the stream has proved the session. Row events update the rows held; the counts
// are asked again shortly after any change.
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { errorData, describeError } from '../lib/errors';
import type { ConnectClient, OwnerClient } from '../trpc';
import { changesCounts, initialAccessState, initialQuery, newlyAsking, reduceAccess, type AccessAction, type ListQuery } from './access-state';

export type LiveStatus =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; message: string | null }
  | { kind: 'signed-out' };

const RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000];
/** Rows per page of the list. */
export const PAGE_SIZE = 50;
/** A reload after a reconnect asks for the rows held, up to the API's page limit. */
const RELOAD_MAX = 500;
/** Counts are asked again this long after the last change of a burst (and at least this often during one). */
const COUNTS_DELAY_MS = 200;

export function useAccessEvents(client: OwnerClient, onNewlyAsking: (clients: ConnectClient[]) => void) {
  const [state, rawDispatch] = useReducer(reduceAccess, initialAccessState);
  const [live, setLive] = useState<LiveStatus>({ kind: 'connecting' });
  const [revision, bumpRevision] = useReducer((n: number) => n + 1, 0);
  const notify = useRef(onNewlyAsking);
  notify.current = onNewlyAsking;

  // The reducer's list generation, mirrored: a 'query' or 'loading' action starts a new one.
  const generation = useRef(0);
  const query = useRef<ListQuery>(initialQuery);
  const held = useRef({ rows: 0, cursor: null as string | null });
  held.current = { rows: state.list.rows.length, cursor: state.list.nextCursor };
  const dispatch = useCallback((action: AccessAction) => {
    if (action.type === 'query' || action.type === 'loading') generation.current++;
    rawDispatch(action);
  }, []);

  const load = useCallback(
    async (opts: { cursor?: string; limit?: number; append: boolean }) => {
      const gen = generation.current;
      const { search, status } = query.current;
      try {
        const page = await client.connect.clients.list.query({
          limit: opts.limit ?? PAGE_SIZE,
          ...(search.trim() && { search: search.trim() }),
          ...(status !== 'all' && { status }),
          ...(opts.cursor && { cursor: opts.cursor }),
        });
        rawDispatch({ type: 'page', generation: gen, page, append: opts.append });
      } catch (error) {
        // A signed-out page says so through the stream; anything else is shown by the list.
        if (errorData(error).code !== 'UNAUTHORIZED') rawDispatch({ type: 'pageFailed', generation: gen, error: describeError(error) });
      }
    },
    [client],
  );

  const refreshCounts = useCallback(async () => {
    const search = query.current.search;
    try {
      const [totals, matching] = await Promise.all([client.connect.clients.counts.query(), search.trim() ? client.connect.clients.counts.query({ search: search.trim() }) : null]);
      rawDispatch({ type: 'totals', counts: totals });
      if (matching) rawDispatch({ type: 'matching', search, counts: matching });
    } catch {
      // The next change asks again; the list's own answers carry counts too.
    }
  }, [client]);

  // One refresh per burst of changes: trailing, but never more than COUNTS_DELAY_MS behind.
  const countsTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const scheduleCounts = useCallback(() => {
    if (countsTimer.current !== undefined) return;
    countsTimer.current = setTimeout(() => {
      countsTimer.current = undefined;
      void refreshCounts();
    }, COUNTS_DELAY_MS);
  }, [refreshCounts]);
  useEffect(() => () => clearTimeout(countsTimer.current), []);

  /**
   * A new search or status filter: the server filters, the window starts from its first page. At
   * most one such load is in flight: keys typed meanwhile are sent as one when it answers, so a
   * search goes out at once yet typing never queues a request per key.
   */
  const queryBusy = useRef(false);
  const queryAgain = useRef(false);
  const pumpQuery = useCallback(() => {
    if (queryBusy.current) {
      queryAgain.current = true;
      return;
    }
    queryBusy.current = true;
    void load({ append: false }).finally(() => {
      queryBusy.current = false;
      if (queryAgain.current) {
        queryAgain.current = false;
        pumpQuery();
      }
    });
  }, [load]);
  const setQuery = useCallback(
    (next: ListQuery) => {
      query.current = next;
      dispatch({ type: 'query', query: next });
      pumpQuery();
    },
    [dispatch, pumpQuery],
  );

  const showMore = useCallback(() => {
    const cursor = held.current.cursor;
    if (!cursor) return;
    dispatch({ type: 'loading', kind: 'more' });
    void load({ cursor, append: true });
  }, [dispatch, load]);

  useEffect(() => {
    // The last event id survives restarts of the stream, so a reconnect receives only what it missed.
    let lastEventId: string | undefined;
    const announced = new Set<string>();
    let opened = false;
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
      subscription = client.access.events.subscribe({ opening: 'summary', ...(lastEventId && { lastEventId }) }, {
        onData({ id, data }) {
          lastEventId = id;
          attempt = 0;
          setLive({ kind: 'live' });
          if (data.type === 'summary' || data.type === 'snapshot') {
            // The first opening proves the owner session: only then is the first page asked for
            // (a signed-out visit asks nothing). A later opening means the stream could not
            // resume: what the page holds may be stale.
            if (!opened) {
              void load({ append: false });
            } else {
              dispatch({ type: 'loading', kind: 'reload' });
              void load({ append: false, limit: Math.min(RELOAD_MAX, Math.max(PAGE_SIZE, held.current.rows)) });
            }
            opened = true;
          }
          const asking = newlyAsking(announced, data);
          rawDispatch({ type: 'event', event: data });
          if (changesCounts(data)) scheduleCounts();
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
  }, [client, dispatch, load, scheduleCounts]);

  return { state, live, dispatch, revision, setQuery, showMore, refreshCounts };
}

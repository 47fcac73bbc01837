// What the settings page knows: the mode and the counts from `access.events` (opened with a
// summary, never every row), and a window of rows loaded page by page through
// `connect.clients.list` with the search and status filter applied by the server. Live events say
// what changed (a row and its new state); the window applies those that fall inside it. The mode
// is unknown until the first summary, never guessed.
import type { AccessEvent, ClientPage, ConnectClient, SecurityMode } from '../trpc';

export type ModeState =
  | { kind: 'unknown' }
  | { kind: 'known'; mode: SecurityMode }
  | { kind: 'unreadable'; error: string };

export interface Counts {
  pending: number;
  approved: number;
  rejected: number;
}

export type StatusFilter = 'all' | ConnectClient['status'];

export interface ListQuery {
  search: string;
  status: StatusFilter;
}

/** The rows of the current query that the page holds: the first pages of the server's order. */
export interface ClientWindow {
  query: ListQuery;
  rows: ConnectClient[];
  /** The last row of the last page loaded while more remain; null once every page is loaded. */
  boundary: ConnectClient | null;
  nextCursor: string | null;
  /** Counts that follow the search (not the status filter), from the server. */
  matching: Counts | null;
  /** Which load is current: an answer for an older one (the query changed meanwhile) is dropped. */
  generation: number;
  loading: 'first' | 'more' | 'reload' | null;
  /** Live events that landed while a load ran: applied again over its answer, so none is lost. */
  replay: AccessEvent[];
  loaded: boolean;
  error: string | null;
}

export interface AccessState {
  mode: ModeState;
  /** Counts of every active device (no search), from the summary and refreshed after changes. */
  totals: Counts | null;
  list: ClientWindow;
}

export const initialQuery: ListQuery = { search: '', status: 'all' };

export const initialAccessState: AccessState = {
  mode: { kind: 'unknown' },
  totals: null,
  list: { query: initialQuery, rows: [], boundary: null, nextCursor: null, matching: null, generation: 0, loading: 'first', replay: [], loaded: false, error: null },
};

const decidedAt = (c: ConnectClient) => c.approvedAt ?? c.rejectedAt ?? c.updatedAt;

/**
 * The server's order (SPEC §13): pending by first request, oldest first, so a device that asks
 * again never moves under the pointer; then the rest by newest decision. Negative: `a` first.
 */
export function compareClients(a: ConnectClient, b: ConnectClient): number {
  if ((a.status === 'pending') !== (b.status === 'pending')) return a.status === 'pending' ? -1 : 1;
  if (a.status === 'pending') return a.firstRequestedAt.localeCompare(b.firstRequestedAt) || a.clientProofKeyThumbprint.localeCompare(b.clientProofKeyThumbprint);
  return decidedAt(b).localeCompare(decidedAt(a)) || b.clientProofKeyThumbprint.localeCompare(a.clientProofKeyThumbprint);
}

export function sortClients(clients: ConnectClient[]): ConnectClient[] {
  return [...clients].sort(compareClients);
}

/** The owner's name for it, else what it calls itself, else its OS, else its key. */
export function clientTitle(client: Pick<ConnectClient, 'client' | 'clientProofKeyThumbprint'> & { name?: string | null }): string {
  return client.name ?? client.client.label ?? client.client.os ?? `Client ${client.clientProofKeyThumbprint.slice(0, 8)}`;
}

export function countClients(clients: ConnectClient[]): Counts {
  const counts: Counts = { pending: 0, approved: 0, rejected: 0 };
  for (const c of clients) counts[c.status]++;
  return counts;
}

/** The same fields the server searches (SPEC §13): label, owner-set name, OS, code, thumbprint prefix. */
export function matchesSearch(client: ConnectClient, search: string): boolean {
  const q = search.trim();
  if (!q) return true;
  const lower = q.toLowerCase();
  if ([client.name, client.client.label, client.client.os].some((t) => t?.toLowerCase().includes(lower))) return true;
  if (client.clientProofKeyThumbprint.startsWith(q)) return true;
  const code = q.toUpperCase().replace(/[\s-]/g, '');
  return code.length >= 2 && client.verificationCode.replace('-', '').includes(code);
}

/** Waiting devices of the whole environment (not only the loaded rows). */
export function pendingCount(state: AccessState): number {
  return state.totals?.pending ?? 0;
}

/** Whether a row with this state belongs in the window: it matches the query and lies within the loaded pages. */
function inWindow(list: ClientWindow, client: ConnectClient): boolean {
  if (list.query.status !== 'all' && client.status !== list.query.status) return false;
  if (!matchesSearch(client, list.query.search)) return false;
  return list.boundary === null || compareClients(client, list.boundary) <= 0;
}

/** A row's new state: it replaces the old copy, or leaves the window if it no longer belongs. */
function upsertRow(list: ClientWindow, client: ConnectClient, onlyIfNewer = false): ClientWindow {
  const t = client.clientProofKeyThumbprint;
  const index = list.rows.findIndex((c) => c.clientProofKeyThumbprint === t);
  if (onlyIfNewer && index >= 0 && list.rows[index]!.updatedAt > client.updatedAt) return list;
  const others = index >= 0 ? list.rows.filter((_, i) => i !== index) : list.rows;
  if (!inWindow(list, client)) return index >= 0 ? { ...list, rows: others } : list;
  // Insert at its place; the rest keep theirs.
  let at = others.findIndex((c) => compareClients(client, c) < 0);
  if (at < 0) at = others.length;
  return { ...list, rows: [...others.slice(0, at), client, ...others.slice(at)] };
}

function removeRow(list: ClientWindow, thumbprint: string): ClientWindow {
  return list.rows.some((c) => c.clientProofKeyThumbprint === thumbprint) ? { ...list, rows: list.rows.filter((c) => c.clientProofKeyThumbprint !== thumbprint) } : list;
}

function applyRowEvent(list: ClientWindow, event: AccessEvent, onlyIfNewer: boolean): ClientWindow {
  if (event.type === 'connectClientUpserted') return upsertRow(list, event.payload, onlyIfNewer);
  if (event.type === 'connectClientRemoved') return removeRow(list, event.payload.clientProofKeyThumbprint);
  return list;
}

function modeOf(mode: SecurityMode | null, error: string | null): ModeState {
  return mode === null ? { kind: 'unreadable', error: error ?? 'The Connect security mode could not be read.' } : { kind: 'known', mode };
}

export type AccessAction =
  | { type: 'event'; event: AccessEvent }
  /** A new search or status filter: the window starts over from the first page. */
  | { type: 'query'; query: ListQuery }
  /** A load starts: `more` appends the next page, `reload` refreshes the pages held (after a reconnect). */
  | { type: 'loading'; kind: 'more' | 'reload' }
  | { type: 'page'; generation: number; page: ClientPage; append: boolean }
  | { type: 'pageFailed'; generation: number; error: string }
  | { type: 'totals'; counts: Counts }
  /** The matching counts for the search in force when they were asked. */
  | { type: 'matching'; search: string; counts: Counts }
  /** The answer of this page's own approve/reject: applied unless the stream already has newer. */
  | { type: 'decided'; client: ConnectClient }
  | { type: 'removed'; clientProofKeyThumbprint: string }
  | { type: 'modeSet'; mode: SecurityMode };

export function reduceAccess(state: AccessState, action: AccessAction): AccessState {
  const list = state.list;
  switch (action.type) {
    case 'event': {
      const { event } = action;
      switch (event.type) {
        case 'summary':
          return { ...state, mode: modeOf(event.payload.connectSecurityMode, event.payload.connectSecurityModeError), totals: event.payload.counts };
        case 'snapshot': {
          // Only a stream asked for the snapshot sends one; the page asks for the summary.
          const p = event.payload;
          return { ...state, mode: modeOf(p.connectSecurityMode, p.connectSecurityModeError), totals: countClients(p.connectClients) };
        }
        case 'connectSecurityModeUpdated':
          return { ...state, mode: { kind: 'known', mode: event.payload.mode } };
        case 'connectClientUpserted':
        case 'connectClientRemoved': {
          const next = applyRowEvent(list, event, false);
          return { ...state, list: list.loading ? { ...next, replay: [...next.replay, event] } : next };
        }
      }
      return state;
    }
    case 'query':
      return {
        ...state,
        // The rows shown stay until the new first page replaces them (no flash of an empty list).
        list: { ...list, query: action.query, matching: list.query.search === action.query.search ? list.matching : null, generation: list.generation + 1, loading: 'first', replay: [], error: null },
      };
    case 'loading':
      return { ...state, list: { ...list, generation: list.generation + 1, loading: action.kind, replay: [], error: null } };
    case 'page': {
      if (action.generation !== list.generation) return state;
      const { page } = action;
      const base = action.append ? list.rows : [];
      const seen = new Set(base.map((c) => c.clientProofKeyThumbprint));
      const rows = [...base, ...page.items.filter((c) => !seen.has(c.clientProofKeyThumbprint))];
      let next: ClientWindow = {
        ...list,
        rows,
        boundary: page.nextCursor === null ? null : (page.items[page.items.length - 1] ?? list.boundary),
        nextCursor: page.nextCursor,
        matching: page.counts,
        loading: null,
        replay: [],
        loaded: true,
        error: null,
      };
      // What changed while the page was read: the page may predate it, or already include it.
      for (const event of list.replay) next = applyRowEvent(next, event, true);
      return { ...state, list: next, ...(list.query.search.trim() === '' && { totals: page.counts }) };
    }
    case 'pageFailed':
      return action.generation === list.generation ? { ...state, list: { ...list, loading: null, replay: [], error: action.error } } : state;
    case 'totals':
      return { ...state, totals: action.counts, ...(list.query.search.trim() === '' && { list: { ...list, matching: action.counts } }) };
    case 'matching':
      return action.search === list.query.search ? { ...state, list: { ...list, matching: action.counts } } : state;
    case 'decided': {
      const current = list.rows.find((c) => c.clientProofKeyThumbprint === action.client.clientProofKeyThumbprint);
      // The stream may already have delivered this change, or a newer one: never step back.
      // A row that is gone was revoked meanwhile (or left the window): an older answer must not
      // bring it back. An equal `updatedAt` means the stream already delivered this decision,
      // perhaps with more (a first connection sets `lastSeenAt`), so the stream's copy wins.
      if (!current || current.updatedAt >= action.client.updatedAt) return state;
      return { ...state, list: upsertRow(list, action.client) };
    }
    case 'removed':
      return { ...state, list: removeRow(list, action.clientProofKeyThumbprint) };
    case 'modeSet':
      return { ...state, mode: { kind: 'known', mode: action.mode } };
  }
}

/** Whether an event changes the counts (then the page asks the server for fresh ones). */
export function changesCounts(event: AccessEvent): boolean {
  return event.type === 'connectClientUpserted' || event.type === 'connectClientRemoved';
}

/**
 * Which clients started asking with this event. `announced` holds the thumbprints already
 * announced or seen waiting (updated in place). A device's first ask has `requestCount` 1; a
 * device that asks again (every ~25 s while it waits) is not news.
 */
export function newlyAsking(announced: Set<string>, event: AccessEvent): ConnectClient[] {
  switch (event.type) {
    case 'connectClientUpserted': {
      const c = event.payload;
      if (c.status !== 'pending') {
        announced.delete(c.clientProofKeyThumbprint);
        return [];
      }
      if (announced.has(c.clientProofKeyThumbprint)) return [];
      announced.add(c.clientProofKeyThumbprint);
      return c.requestCount <= 1 ? [c] : [];
    }
    case 'connectClientRemoved':
      announced.delete(event.payload.clientProofKeyThumbprint);
      return [];
    default:
      return [];
  }
}

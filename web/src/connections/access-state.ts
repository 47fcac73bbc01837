// What the settings page knows, built only from `access.events` (and the results of its own
// mutations): the mode is unknown until the first snapshot, never guessed.
import type { AccessEvent, ConnectClient, SecurityMode } from '../trpc';

export type ModeState =
  | { kind: 'unknown' }
  | { kind: 'known'; mode: SecurityMode }
  | { kind: 'unreadable'; error: string };

export interface AccessState {
  mode: ModeState;
  clients: ConnectClient[];
}

export const initialAccessState: AccessState = { mode: { kind: 'unknown' }, clients: [] };

const decidedAt = (c: ConnectClient) => c.approvedAt ?? c.rejectedAt ?? c.updatedAt;

/**
 * The server's order (SPEC §13): pending by first request, oldest first, so a device that asks
 * again never moves under the pointer; then the rest by newest decision.
 */
export function sortClients(clients: ConnectClient[]): ConnectClient[] {
  return [...clients].sort((a, b) => {
    if ((a.status === 'pending') !== (b.status === 'pending')) return a.status === 'pending' ? -1 : 1;
    if (a.status === 'pending') return a.firstRequestedAt.localeCompare(b.firstRequestedAt) || a.clientProofKeyThumbprint.localeCompare(b.clientProofKeyThumbprint);
    return decidedAt(b).localeCompare(decidedAt(a)) || b.clientProofKeyThumbprint.localeCompare(a.clientProofKeyThumbprint);
  });
}

/** The owner's name for it, else what it calls itself, else its OS, else its key. */
export function clientTitle(client: Pick<ConnectClient, 'client' | 'clientProofKeyThumbprint'> & { name?: string | null }): string {
  return client.name ?? client.client.label ?? client.client.os ?? `Client ${client.clientProofKeyThumbprint.slice(0, 8)}`;
}

export interface Counts {
  pending: number;
  approved: number;
  rejected: number;
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

export function pendingCount(state: AccessState): number {
  return state.clients.filter((c) => c.status === 'pending').length;
}

function upsert(state: AccessState, client: ConnectClient): AccessState {
  const others = state.clients.filter((c) => c.clientProofKeyThumbprint !== client.clientProofKeyThumbprint);
  return { ...state, clients: sortClients([...others, client]) };
}

function remove(state: AccessState, thumbprint: string): AccessState {
  return { ...state, clients: state.clients.filter((c) => c.clientProofKeyThumbprint !== thumbprint) };
}

export type AccessAction =
  | { type: 'event'; event: AccessEvent }
  /** The answer of this page's own approve/reject: applied unless the stream already has newer. */
  | { type: 'decided'; client: ConnectClient }
  | { type: 'removed'; clientProofKeyThumbprint: string }
  | { type: 'modeSet'; mode: SecurityMode };

export function reduceAccess(state: AccessState, action: AccessAction): AccessState {
  switch (action.type) {
    case 'event': {
      const { event } = action;
      switch (event.type) {
        case 'snapshot': {
          const { connectSecurityMode, connectSecurityModeError, connectClients } = event.payload;
          const mode: ModeState =
            connectSecurityMode === null
              ? { kind: 'unreadable', error: connectSecurityModeError ?? 'The Connect security mode could not be read.' }
              : { kind: 'known', mode: connectSecurityMode };
          return { mode, clients: sortClients(connectClients) };
        }
        case 'connectSecurityModeUpdated':
          return { ...state, mode: { kind: 'known', mode: event.payload.mode } };
        case 'connectClientUpserted':
          return upsert(state, event.payload);
        case 'connectClientRemoved':
          return remove(state, event.payload.clientProofKeyThumbprint);
      }
      return state;
    }
    case 'decided': {
      const current = state.clients.find((c) => c.clientProofKeyThumbprint === action.client.clientProofKeyThumbprint);
      // The stream may already have delivered this change, or a newer one: never step back.
      // A row that is gone was revoked meanwhile: an older answer must not bring it back. An equal
      // `updatedAt` means the stream already delivered this decision, perhaps with more (a first
      // connection sets `lastSeenAt` without a new `updatedAt`), so the stream's copy wins.
      if (!current || current.updatedAt >= action.client.updatedAt) return state;
      return upsert(state, action.client);
    }
    case 'removed':
      return remove(state, action.clientProofKeyThumbprint);
    case 'modeSet':
      return { ...state, mode: { kind: 'known', mode: action.mode } };
  }
}

/**
 * Which clients started asking with this event, given the thumbprints pending before it. Updates
 * `pending` in place. A snapshot only seeds the set: what was already waiting is not news.
 */
export function newlyAsking(pending: Set<string>, event: AccessEvent): ConnectClient[] {
  switch (event.type) {
    case 'snapshot':
      pending.clear();
      for (const c of event.payload.connectClients) if (c.status === 'pending') pending.add(c.clientProofKeyThumbprint);
      return [];
    case 'connectClientUpserted': {
      const c = event.payload;
      const wasPending = pending.has(c.clientProofKeyThumbprint);
      if (c.status !== 'pending') {
        pending.delete(c.clientProofKeyThumbprint);
        return [];
      }
      pending.add(c.clientProofKeyThumbprint);
      return wasPending ? [] : [c];
    }
    case 'connectClientRemoved':
      pending.delete(event.payload.clientProofKeyThumbprint);
      return [];
    default:
      return [];
  }
}

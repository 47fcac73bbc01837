// The live waiting list of an approver device (SPEC §13, S59): `client.approvals`, on its own DPoP
// session. Only what an approver may know: the devices waiting (other than itself) and that one of
// them was decided or went away; never the mode, invites, approvers or anything else of the owner's.
// The right is checked at the start and again at every event: the stream ends the moment the owner
// takes it away, revokes the device, or its session ends.
import type { ConnectClient } from '../../../shared/contracts';
import { DomainError } from '../../common/errors';
import type { EnvDeps } from '../deps';
import { SubscriptionSlots } from '../events/subscription-slots';
import { isApprover } from './approvers.service';
import { listClientsPage } from './client-list';
import { findLiveSession, type ClientIdentity } from './client-sessions.service';

/** The waiting list an approver is shown at most (the same page as `connect.clients.list` gives it). */
export const APPROVER_LIST_LIMIT = 500;
/** Open `client.approvals` streams per client session: one page, a few tabs or retries at most. */
export const MAX_APPROVER_STREAMS_PER_SESSION = 4;
const slotsByEnvironment = new WeakMap<EnvDeps['bus'], SubscriptionSlots>();
function approverSlotsOf(deps: EnvDeps): SubscriptionSlots {
  let slots = slotsByEnvironment.get(deps.bus);
  if (!slots) slotsByEnvironment.set(deps.bus, (slots = new SubscriptionSlots(MAX_APPROVER_STREAMS_PER_SESSION)));
  return slots;
}

export type ApproverEvent =
  | { type: 'snapshot'; pending: ConnectClient[] }
  | { type: 'pending'; client: ConnectClient }
  | { type: 'decided'; clientProofKeyThumbprint: string; outcome: 'approved' | 'rejected' | 'removed' }
  | { type: 'ended'; reason: 'not_approver' | 'session_ended' };

const notAnApprover = () => new DomainError('forbidden', 'forbidden', 'This device is not (or no longer) an approver.');

function stillAllowed(deps: EnvDeps, me: ClientIdentity): ApproverEvent | null {
  if (!findLiveSession(deps.db, me.sessionTokenHash, deps.clock.now())) return { type: 'ended', reason: 'session_ended' };
  if (!isApprover(deps.db, me.clientProofKeyThumbprint, deps.clock.now())) return { type: 'ended', reason: 'not_approver' };
  return null;
}

function pendingOthers(deps: EnvDeps, me: string): ConnectClient[] {
  return listClientsPage(deps, { status: 'pending', limit: APPROVER_LIST_LIMIT }).items.filter((c) => c.clientProofKeyThumbprint !== me);
}

/** A snapshot of the waiting list, then each change to it, until the right or the session ends. */
export function openApproverStream(deps: EnvDeps, me: ClientIdentity, signal: AbortSignal | undefined): AsyncGenerator<ApproverEvent> {
  // Refused before any slot or listener is taken: a device that is not an approver learns nothing.
  if (!isApprover(deps.db, me.clientProofKeyThumbprint, deps.clock.now())) throw notAnApprover();
  const release = approverSlotsOf(deps).acquire(me.sessionTokenHash);
  if (!release) throw new DomainError('too_many_requests', 'rate_limited', `At most ${MAX_APPROVER_STREAMS_PER_SESSION} open approval streams per client session.`);
  const self = me.clientProofKeyThumbprint;
  return (async function* () {
    const queue: ApproverEvent[] = [];
    const shown = new Set<string>();
    let wake: (() => void) | null = null;
    let ended = false;
    const push = (event: ApproverEvent) => {
      if (ended) return;
      if (event.type === 'ended') ended = true;
      queue.push(event);
      wake?.();
    };
    const recheck = () => {
      const end = stillAllowed(deps, me);
      if (end) push(end);
      return !end;
    };
    // Subscribed before the snapshot is read, so nothing falls between; what the snapshot covers is harmless again.
    const offAccess = deps.bus.subscribe((event) => {
      if (ended || !recheck()) return;
      if (event.type === 'connectClientUpserted') {
        const c = event.payload;
        if (c.clientProofKeyThumbprint === self) return;
        if (c.status === 'pending') push({ type: 'pending', client: c });
        // Kept only for a device this stream showed as waiting (checked in order, below).
        else push({ type: 'decided', clientProofKeyThumbprint: c.clientProofKeyThumbprint, outcome: c.status });
      } else if (event.type === 'connectClientRemoved' && event.payload.clientProofKeyThumbprint !== self) {
        push({ type: 'decided', clientProofKeyThumbprint: event.payload.clientProofKeyThumbprint, outcome: 'removed' });
      }
    });
    const offClient = deps.bus.onClientSignal((s) => {
      if (s.clientProofKeyThumbprint === self) recheck();
    });
    const timer = setTimeout(() => push({ type: 'ended', reason: 'session_ended' }), Math.max(0, Math.min(me.expiresAt - deps.clock.now(), 2 ** 31 - 1)));
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      queue.unshift({ type: 'snapshot', pending: pendingOthers(deps, self) });
      while (!signal?.aborted) {
        const event = queue.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        if (event.type === 'snapshot') {
          shown.clear();
          for (const c of event.pending) shown.add(c.clientProofKeyThumbprint);
        } else if (event.type === 'pending') {
          shown.add(event.client.clientProofKeyThumbprint);
        } else if (event.type === 'decided') {
          if (!shown.delete(event.clientProofKeyThumbprint)) continue;
        }
        yield event;
        if (event.type === 'ended') return;
      }
    } finally {
      offAccess();
      offClient();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      release();
    }
  })();
}

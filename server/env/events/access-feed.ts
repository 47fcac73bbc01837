// The one seam of `access.events`: the rule "subscribe to the bus, then read the snapshot or
// resume" lives here, and both transports consume it (the tRPC generator and the HTTP fan-out writer).
import type { AccessEvent } from '../../../shared/contracts';
import { countClients } from '../connect/client-list';
import { listClients } from '../connect/clients.service';
import { readSecurityModeState } from '../connect/security-mode.service';
import type { EnvDeps } from '../deps';

/** What a stream opens with when it does not resume (AccessEventsInput `opening`). */
export type AccessOpening = 'snapshot' | 'summary';

/** The owner console's opening: the mode and the counts, not every row (issue 17: 10,000 devices). */
export function readAccessSummary(deps: EnvDeps): Extract<AccessEvent, { type: 'summary' }>['payload'] {
  const mode = readSecurityModeState(deps.db);
  return { connectSecurityMode: mode.mode, connectSecurityModeError: mode.error, counts: countClients(deps.db) };
}

export function readAccessSnapshot(deps: EnvDeps): Extract<AccessEvent, { type: 'snapshot' }>['payload'] {
  const mode = readSecurityModeState(deps.db);
  return { connectSecurityMode: mode.mode, connectSecurityModeError: mode.error, connectClients: listClients(deps) };
}

export interface StreamedEvent {
  id: string;
  event: AccessEvent;
}

interface Member {
  deliver: (item: StreamedEvent) => void;
  /** Highest revision delivered to this member. */
  delivered: number;
  /** Live events that arrive while the opening is being read; null once it is delivered. */
  held: AccessEvent[] | null;
}

/**
 * The access events of one environment, for any number of members through one bus listener. Each
 * live event is handed to every member as the same `StreamedEvent` object, so a transport can
 * serialize it once for all.
 */
export class AccessFeed {
  private readonly members = new Set<Member>();
  private unsubscribeBus: (() => void) | null = null;

  constructor(private readonly deps: EnvDeps) {}

  /**
   * Joins the feed: `deliver` gets the missed events of a `lastEventId` of this server's life, else
   * the opening (a snapshot, or with `opening: 'summary'` the mode and counts), then every later event once, in revision order. The member is subscribed before
   * the opening is read, and events that land meanwhile are delivered after it unless it covers
   * them, so nothing falls between. Returns `leave` (idempotent).
   */
  join(lastEventId: string | null | undefined, deliver: (item: StreamedEvent) => void, opening: AccessOpening = 'snapshot'): () => void {
    const bus = this.deps.bus;
    const member: Member = { deliver, delivered: 0, held: [] };
    this.unsubscribeBus ??= bus.subscribe((event) => this.broadcast(event));
    this.members.add(member);
    const leave = () => {
      if (!this.members.delete(member) || this.members.size > 0) return;
      this.unsubscribeBus?.();
      this.unsubscribeBus = null;
    };
    try {
      const resumeFrom = bus.parseEventId(lastEventId);
      const missed = resumeFrom === null ? null : bus.since(resumeFrom);
      if (resumeFrom !== null && missed) {
        member.delivered = resumeFrom;
        for (const event of missed) this.deliverTo(member, { id: bus.eventId(event.revision), event });
      } else {
        const revision = bus.currentRevision;
        const first: AccessEvent =
          opening === 'summary' ? { revision, type: 'summary', payload: readAccessSummary(this.deps) } : { revision, type: 'snapshot', payload: readAccessSnapshot(this.deps) };
        this.deliverTo(member, { id: bus.eventId(revision), event: first });
      }
      const held = member.held!;
      member.held = null;
      for (const event of held) this.deliverTo(member, { id: bus.eventId(event.revision), event });
    } catch (error) {
      leave();
      throw error;
    }
    return leave;
  }

  private deliverTo(member: Member, item: StreamedEvent): void {
    if (item.event.type !== 'snapshot' && item.event.type !== 'summary' && item.event.revision <= member.delivered) return;
    member.delivered = item.event.revision;
    member.deliver(item);
  }

  private broadcast(event: AccessEvent): void {
    let item: StreamedEvent | null = null;
    for (const member of this.members) {
      if (member.held) member.held.push(event);
      else this.deliverTo(member, (item ??= { id: this.deps.bus.eventId(event.revision), event }));
    }
  }
}

const feeds = new WeakMap<EnvDeps['bus'], AccessFeed>();

/** The feed of this environment (one per bus). */
export function accessFeedOf(deps: EnvDeps): AccessFeed {
  let feed = feeds.get(deps.bus);
  if (!feed) feeds.set(deps.bus, (feed = new AccessFeed(deps)));
  return feed;
}

/** The feed as an async generator, for the tRPC procedure; it leaves when `signal` aborts or the consumer stops. */
export async function* accessEventStream(deps: EnvDeps, lastEventId: string | null | undefined, signal: AbortSignal | undefined, opening: AccessOpening = 'snapshot'): AsyncGenerator<StreamedEvent> {
  const queue: StreamedEvent[] = [];
  let wake: (() => void) | null = null;
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  const leave = accessFeedOf(deps).join(lastEventId, (item) => {
    queue.push(item);
    wake?.();
  }, opening);
  try {
    while (!signal?.aborted) {
      const item = queue.shift();
      if (item) yield item;
      else {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    }
  } finally {
    leave();
    signal?.removeEventListener('abort', onAbort);
  }
}

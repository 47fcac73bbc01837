// `access.events` over HTTP, written by one fan-out writer instead of a stream pipeline per
// subscriber. It speaks tRPC's SSE wire format (what `httpSubscriptionLink` reads), so clients cannot
// tell; the tRPC procedure stays the definition (types, createCaller, every refusal).
//
// Why: tRPC's producer turns each event, per subscriber, into three chunks through a stream pipeline,
// each chunk its own socket write; here an event is serialized once and the same bytes go to every
// open stream in one write each.
import type { ServerResponse } from 'node:http';
import type { EnvDeps } from '../deps';
import { accessFeedOf, type AccessFeed, type AccessOpening, type StreamedEvent } from './access-feed';

/** A stream whose reader lags this far behind is closed; it reconnects and resumes by event id. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-store, no-transform',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
} as const;

/** tRPC's first message: the client options (none are set on this server). */
const CONNECTED_FRAME = 'event: connected\ndata: {}\n\n';

export class AccessEventWriter {
  private readonly feed: AccessFeed;
  /** The last frame serialized: every stream is handed the same event object in turn. */
  private last: { item: StreamedEvent; frame: string } | null = null;

  constructor(private readonly deps: EnvDeps) {
    this.feed = accessFeedOf(deps);
  }

  /**
   * Starts one stream on the feed (opening, then live events) for the owner session `ownerKey`
   * (`admin-token` for the CLI's bearer); `onClose` runs once when it ends for any reason.
   */
  open(res: ServerResponse, ownerKey: string, lastEventId: string | null | undefined, headers: Record<string, string>, onClose: () => void, openWith: AccessOpening = 'snapshot'): void {
    res.writeHead(200, { ...headers, ...SSE_HEADERS });
    // The opening (and whatever lands while it is read) goes out as one write.
    let opening: string | null = CONNECTED_FRAME;
    let maxBuffered = MAX_BUFFERED_BYTES;
    const leave = this.feed.join(lastEventId, (item) => {
      if (opening !== null) {
        opening += this.frameOf(item);
      } else if (res.writableLength > maxBuffered) {
        // A reader that stopped reading would otherwise hold every event in memory.
        res.destroy();
      } else {
        res.write(this.frameOf(item));
      }
    }, openWith);
    // A signed-out session sees nothing more: its streams end (S63).
    const offSignOut = this.deps.bus.onOwnerSessionsEnded((ended) => {
      if (ended === 'all-cookie-sessions' ? ownerKey !== 'admin-token' : ended.includes(ownerKey)) res.end();
    });
    res.once('close', () => {
      leave();
      offSignOut();
      onClose();
    });
    maxBuffered += Buffer.byteLength(opening);
    res.write(opening);
    opening = null;
  }

  private frameOf(item: StreamedEvent): string {
    if (this.last?.item !== item) this.last = { item, frame: frameOf(item) };
    return this.last.frame;
  }
}

/** One tracked tRPC SSE message (`data` is the JSON of the event, `id` its event id). */
function frameOf({ id, event }: StreamedEvent): string {
  return `data: ${JSON.stringify(event)}\nid: ${id}\n\n`;
}

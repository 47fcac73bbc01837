// `access.events` over HTTP, written by one fan-out writer instead of a stream pipeline per
// subscriber. It speaks tRPC's SSE wire format (what `httpSubscriptionLink` reads), so clients cannot
// tell; the tRPC procedure stays the definition (types, createCaller, every refusal).
//
// Why: tRPC's producer turns each event, per subscriber, into three chunks through async generators,
// a ReadableStream, a TransformStream, a TextEncoderStream and a WritableStream, each chunk its own
// socket write: ~0.1–0.2 ms CPU and ~100 KB heap per subscriber. Here an event is serialized once and
// the same bytes go to every open stream in one write each (issue 6, P5).
import type { ServerResponse } from 'node:http';
import type { AccessEvent } from '../../../shared/contracts';
import type { EnvDeps } from '../deps';
import { readAccessSnapshot } from './access-stream';

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

interface Subscriber {
  res: ServerResponse;
  /** The owner session it belongs to (`admin-token` for the CLI's bearer). */
  ownerKey: string;
  /** Highest revision written to this stream. */
  delivered: number;
  /** Bytes a reader may leave unread: the lag limit plus the opening snapshot. */
  maxBuffered: number;
}

export class AccessEventWriter {
  private readonly subscribers = new Set<Subscriber>();
  private unsubscribeBus: (() => void) | null = null;
  private unsubscribeOwner: (() => void) | null = null;

  constructor(private readonly deps: EnvDeps) {}

  /**
   * Starts one stream: the missed events of a `lastEventId` of this server's life, else a snapshot,
   * then every event after it. Synchronous from joining the fan-out to writing the snapshot
   * (better-sqlite3 reads are synchronous, the bus publishes synchronously), so no event falls
   * between. `onClose` runs once when the stream ends for any reason.
   */
  open(res: ServerResponse, ownerKey: string, lastEventId: string | null | undefined, headers: Record<string, string>, onClose: () => void): void {
    const bus = this.deps.bus;
    const sub: Subscriber = { res, ownerKey, delivered: 0, maxBuffered: MAX_BUFFERED_BYTES };
    this.ensureListening();
    this.subscribers.add(sub);
    res.once('close', () => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) this.stopListening();
      onClose();
    });
    res.writeHead(200, { ...headers, ...SSE_HEADERS });

    const resumeFrom = bus.parseEventId(lastEventId);
    const missed = resumeFrom === null ? null : bus.since(resumeFrom);
    let opening = CONNECTED_FRAME;
    if (resumeFrom !== null && missed) {
      sub.delivered = resumeFrom;
      for (const event of missed) {
        opening += frameOf(bus.eventId(event.revision), event);
        sub.delivered = event.revision;
      }
    } else {
      sub.delivered = bus.currentRevision;
      const snapshot: AccessEvent = { revision: sub.delivered, type: 'snapshot', payload: readAccessSnapshot(this.deps) };
      opening += frameOf(bus.eventId(sub.delivered), snapshot);
    }
    sub.maxBuffered += Buffer.byteLength(opening);
    res.write(opening);
  }

  private ensureListening(): void {
    this.unsubscribeBus ??= this.deps.bus.subscribe((event) => this.broadcast(event));
    this.unsubscribeOwner ??= this.deps.bus.onOwnerSessionsEnded((ended) => this.endStreams(ended));
  }

  private stopListening(): void {
    this.unsubscribeBus?.();
    this.unsubscribeOwner?.();
    this.unsubscribeBus = this.unsubscribeOwner = null;
  }

  /** A signed-out session sees nothing more: its streams end (S63). */
  private endStreams(ended: string[] | 'all-cookie-sessions'): void {
    for (const sub of [...this.subscribers]) {
      if (ended === 'all-cookie-sessions' ? sub.ownerKey !== 'admin-token' : ended.includes(sub.ownerKey)) sub.res.end();
    }
  }

  private broadcast(event: AccessEvent): void {
    let frame: string | null = null;
    for (const sub of this.subscribers) {
      if (event.revision <= sub.delivered) continue;
      if (sub.res.writableLength > sub.maxBuffered) {
        // A reader that stopped reading would otherwise hold every event in memory.
        sub.res.destroy();
        continue;
      }
      frame ??= frameOf(this.deps.bus.eventId(event.revision), event);
      sub.delivered = event.revision;
      sub.res.write(frame);
    }
  }
}

/** One tracked tRPC SSE message (`data` is the JSON of the event, `id` its event id). */
function frameOf(id: string, event: AccessEvent): string {
  return `data: ${JSON.stringify(event)}\nid: ${id}\n\n`;
}

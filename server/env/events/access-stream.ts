import type { AccessEvent } from '../../../shared/contracts';
import { listClients } from '../connect/clients.service';
import { readSecurityModeState } from '../connect/security-mode.service';
import type { EnvDeps } from '../deps';

export function readAccessSnapshot(deps: EnvDeps): Extract<AccessEvent, { type: 'snapshot' }>['payload'] {
  const mode = readSecurityModeState(deps.db);
  return { connectSecurityMode: mode.mode, connectSecurityModeError: mode.error, connectClients: listClients(deps) };
}

export interface StreamedEvent {
  id: string;
  event: AccessEvent;
}

/**
 * The access event stream of one subscriber. It subscribes to the bus *before* reading the snapshot,
 * so nothing falls between; a `lastEventId` of this server's life resumes with exactly the missed events.
 */
export async function* accessEventStream(deps: EnvDeps, lastEventId: string | null | undefined, signal: AbortSignal | undefined): AsyncGenerator<StreamedEvent> {
  const queue: AccessEvent[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = deps.bus.subscribe((event) => {
    queue.push(event);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    const resumeFrom = deps.bus.parseEventId(lastEventId);
    const missed = resumeFrom === null ? null : deps.bus.since(resumeFrom);
    let delivered: number;
    if (resumeFrom !== null && missed) {
      delivered = resumeFrom;
      for (const event of missed) {
        delivered = event.revision;
        yield { id: deps.bus.eventId(event.revision), event };
      }
    } else {
      delivered = deps.bus.currentRevision;
      const snapshot: AccessEvent = { revision: delivered, type: 'snapshot', payload: readAccessSnapshot(deps) };
      yield { id: deps.bus.eventId(delivered), event: snapshot };
    }
    while (!signal?.aborted) {
      const event = queue.shift();
      if (!event) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (event.revision <= delivered) continue;
      delivered = event.revision;
      yield { id: deps.bus.eventId(event.revision), event };
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', onAbort);
  }
}

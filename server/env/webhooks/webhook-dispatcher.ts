// Sends the queued deliveries (SPEC §14): whatever is due on the injected clock, a few at a time,
// woken after each commit (through the access bus) and by a slow poll for retries. The queue is the
// database, so a restart resumes it; a delivery in flight at a crash goes out again with the same
// `webhook-id`, which receivers use to drop the duplicate.
import { and, asc, eq, inArray, lt, lte, notInArray } from 'drizzle-orm';
import type { EnvDeps } from '../deps';
import { webhookDeliveries } from '../db/schema';
import { attemptDelivery } from './webhook-delivery';
import type { WebhookSettings } from './webhook-settings';

const BATCH = 8;
const POLL_MS = 1000;
/** Delivered and failed rows stay in the log for a week. */
export const LOG_KEEP_MS = 7 * 24 * 60 * 60 * 1000;

export interface WebhookDispatcher {
  /** Attempts every delivery due now; resolves with how many were attempted. */
  runDue(): Promise<number>;
  /** Starts the poll and the wake-ups from the bus. */
  start(): void;
  /** Stops them and waits for attempts in flight. */
  stop(): Promise<void>;
}

export function createWebhookDispatcher(deps: Pick<EnvDeps, 'db' | 'bus' | 'clock'>, settings: WebhookSettings): WebhookDispatcher {
  const inFlight = new Set<number>();
  let running: Promise<number> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let unsubscribe: (() => void) | null = null;
  let stopped = false;
  let lastPrune = 0;

  const prune = (now: number) => {
    if (now - lastPrune < 60 * 60 * 1000) return;
    lastPrune = now;
    deps.db
      .delete(webhookDeliveries)
      .where(and(inArray(webhookDeliveries.status, ['delivered', 'failed']), lt(webhookDeliveries.createdAt, now - LOG_KEEP_MS)))
      .run();
  };

  const runOnce = async (): Promise<number> => {
    let attempted = 0;
    for (;;) {
      const now = deps.clock.now();
      prune(now);
      const due = deps.db
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.status, 'pending'), lte(webhookDeliveries.nextAttemptAt, now), inFlight.size ? notInArray(webhookDeliveries.id, [...inFlight]) : undefined))
        .orderBy(asc(webhookDeliveries.nextAttemptAt), asc(webhookDeliveries.id))
        .limit(BATCH)
        .all();
      if (due.length === 0) return attempted;
      await Promise.all(
        due.map(async ({ id }) => {
          inFlight.add(id);
          try {
            await attemptDelivery(deps.db, deps.clock, settings, id);
          } finally {
            inFlight.delete(id);
          }
        }),
      );
      attempted += due.length;
    }
  };

  const runDue = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      do {
        again = false;
        total += await runOnce();
      } while (again && !stopped);
      return total;
    })().finally(() => (running = null));
    return running;
  };

  const wake = () => {
    if (!stopped) void runDue().catch(() => undefined);
  };

  return {
    runDue,
    start() {
      stopped = false;
      timer = setInterval(wake, POLL_MS);
      timer.unref();
      unsubscribe = deps.bus.subscribe(wake);
      settings.kick = wake;
      wake();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      unsubscribe?.();
      settings.kick = undefined;
      await running?.catch(() => undefined);
    },
  };
}

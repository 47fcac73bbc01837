// Chooses, per `GET /trpc/access.events`, whether the fan-out writer can serve it: only a request
// the tRPC procedure would accept as is. Everything else (no owner, bad input, a batch, the session's
// stream cap) goes on to tRPC, which answers it exactly as it answers any subscription.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessEventsInput } from '../../../shared/contracts';
import type { AccessOpening } from '../events/access-feed';
import type { AccessEventWriter } from '../events/access-sse';
import { subscriptionSlotsOf } from '../events/subscription-slots';
import { ownerRefusal, type EnvContext } from './init';

export const ACCESS_EVENTS_PATH = '/trpc/access.events';

/** The procedure's input as tRPC reads it for a subscription: `?input=` JSON plus the Last-Event-ID. */
function inputOf(req: IncomingMessage, url: URL): { ok: true; lastEventId: string | null | undefined; opening: AccessOpening | undefined } | { ok: false } {
  let input: unknown;
  const raw = url.searchParams.get('input');
  if (raw !== null) {
    try {
      input = JSON.parse(raw);
    } catch {
      return { ok: false };
    }
  }
  const header = req.headers['last-event-id'];
  const lastEventId = (typeof header === 'string' ? header : null) ?? url.searchParams.get('lastEventId') ?? url.searchParams.get('Last-Event-Id');
  if (lastEventId) {
    if (input !== null && typeof input === 'object' && !Array.isArray(input)) input = { ...input, lastEventId };
    else input ??= { lastEventId };
  }
  const parsed = AccessEventsInput.safeParse(input);
  return parsed.success ? { ok: true, lastEventId: parsed.data?.lastEventId, opening: parsed.data?.opening } : { ok: false };
}

/** Serves the stream and returns true, or returns false (nothing written) for tRPC to answer. */
export function serveAccessEvents(req: IncomingMessage, res: ServerResponse, ctx: EnvContext, writer: AccessEventWriter, headers: Record<string, string>): boolean {
  if (req.method !== 'GET') return false;
  const url = new URL(req.url ?? '/', 'http://env.invalid');
  if (url.searchParams.has('batch') || ownerRefusal(ctx, 'access:read', 'subscription')) return false;
  const input = inputOf(req, url);
  if (!input.ok) return false;
  const ownerKey = ctx.ownerKey ?? 'owner';
  const release = subscriptionSlotsOf(ctx.deps).acquire(ownerKey);
  if (!release) return false;
  writer.open(res, ownerKey, input.lastEventId, headers, release, input.opening);
  return true;
}

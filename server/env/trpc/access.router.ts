import { tracked, TRPCError } from '@trpc/server';
import { AccessEventsInput } from '../../../shared/contracts';
import { accessEventStream } from '../events/access-stream';
import { ownerReadProcedure, router } from './init';

/** Per owner session: a leaked tab loop cannot pin unbounded server resources (S45). */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 16;
const openByOwner = new Map<string, number>();

export const accessRouter = router({
  events: ownerReadProcedure.input(AccessEventsInput).subscription(async function* ({ ctx, input, signal }) {
    const key = ctx.ownerKey ?? 'owner';
    const open = openByOwner.get(key) ?? 0;
    if (open >= MAX_SUBSCRIPTIONS_PER_SESSION) {
      throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: 'Too many open event streams for this session.' });
    }
    openByOwner.set(key, open + 1);
    try {
      for await (const { id, event } of accessEventStream(ctx.deps, input?.lastEventId, signal)) {
        yield tracked(id, event);
      }
    } finally {
      const left = (openByOwner.get(key) ?? 1) - 1;
      if (left <= 0) openByOwner.delete(key);
      else openByOwner.set(key, left);
    }
  }),
});

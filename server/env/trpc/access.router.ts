import { tracked, TRPCError } from '@trpc/server';
import { AccessEventsInput } from '../../../shared/contracts';
import { accessEventStream } from '../events/access-feed';
import { subscriptionSlotsOf } from '../events/subscription-slots';
import { ownerReadProcedure, router } from './init';

export { MAX_SUBSCRIPTIONS_PER_SESSION } from '../events/subscription-slots';

export const accessRouter = router({
  // Over HTTP, a subscriber that passes every check here is served by the fan-out writer
  // (trpc/access-events-route.ts); this generator serves createCaller and answers every refusal.
  events: ownerReadProcedure.input(AccessEventsInput).subscription(async function* ({ ctx, input, signal }) {
    const release = subscriptionSlotsOf(ctx.deps).acquire(ctx.ownerKey ?? 'owner');
    if (!release) throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: 'Too many open event streams for this session.' });
    try {
      for await (const { id, event } of accessEventStream(ctx.deps, input?.lastEventId, signal, input?.opening)) {
        yield tracked(id, event);
      }
    } finally {
      release();
    }
  }),
});

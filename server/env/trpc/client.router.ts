import { and, eq, gt, isNull } from 'drizzle-orm';
import { clientSessions } from '../db/schema';
import type { EnvDeps } from '../deps';
import type { ClientIdentity } from '../connect/client-auth';
import { TRPCError } from '@trpc/server';
import { clientSessionStreamSlots, MAX_SESSION_STREAMS_PER_CLIENT_SESSION } from '../events/subscription-slots';
import { clientProcedure, router } from './init';

function sessionActive(deps: EnvDeps, client: ClientIdentity): boolean {
  const row = deps.db
    .select({ endedAt: clientSessions.endedAt })
    .from(clientSessions)
    .where(and(eq(clientSessions.tokenHash, client.sessionTokenHash), isNull(clientSessions.endedAt), gt(clientSessions.expiresAt, deps.clock.now())))
    .get();
  return row !== undefined;
}

/** Resolves when this client's session ends (revoked, rejected) or the stream closes. */
function sessionEnded(deps: EnvDeps, client: ClientIdentity, signal: AbortSignal | undefined): Promise<'ended' | 'expired' | 'closed'> {
  return new Promise((resolve) => {
    const finish = (why: 'ended' | 'expired' | 'closed') => {
      off();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onAbort = () => finish('closed');
    const off = deps.bus.onClientSignal((s) => {
      if (s.clientProofKeyThumbprint === client.clientProofKeyThumbprint && s.kind === 'sessions-ended' && !sessionActive(deps, client)) finish('ended');
    });
    const timer = setTimeout(() => finish('expired'), Math.max(0, Math.min(client.expiresAt - deps.clock.now(), 2 ** 31 - 1)));
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) onAbort();
  });
}

export const clientRouter = router({
  whoami: clientProcedure.query(({ ctx }) => ({
    environmentId: ctx.environmentId,
    clientProofKeyThumbprint: ctx.client.clientProofKeyThumbprint,
    scopes: ctx.client.scopes,
    expiresAt: ctx.client.expiresAt,
  })),
  /** A connected client's live session: `active` now, then `ended` the moment it is revoked or rejected. */
  session: clientProcedure.subscription(async function* ({ ctx, signal }) {
    const release = clientSessionStreamSlots.acquire(ctx.client.sessionTokenHash);
    if (!release) throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `At most ${MAX_SESSION_STREAMS_PER_CLIENT_SESSION} open session streams per client session.` });
    try {
      if (!sessionActive(ctx.deps, ctx.client)) {
        yield { status: 'ended' as const, reason: 'revoked' as const };
        return;
      }
      yield { status: 'active' as const, expiresAt: ctx.client.expiresAt };
      const why = await sessionEnded(ctx.deps, ctx.client, signal);
      if (why === 'ended') yield { status: 'ended' as const, reason: 'revoked' as const };
      if (why === 'expired') yield { status: 'ended' as const, reason: 'expired' as const };
    } finally {
      release();
    }
  }),
});

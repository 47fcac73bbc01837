// Which relay instance holds each tunnel (SPEC §12), kept in the shared database: the holder
// claims on open, renews its leases every 10 s and releases on close; every instance caches what it
// looked up and forgets it when PostgreSQL NOTIFYs a move, so a request costs no database read.
import type { Clock } from '../common/clock';
import type { TunnelLocation, TunnelLocationStore } from './store';

export const LEASE_RENEW_MS = 10_000;
/** A holder that stopped renewing (an instance gone) loses its leases this long after the last renewal. */
export const LEASE_MS = 30_000;

export interface Instance {
  instanceId: string;
  internalUrl: string;
}

export function createTunnelLocations(store: TunnelLocationStore, me: Instance, clock: Clock, hooks: { movedAway(environmentId: string): void }) {
  const cache = new Map<string, TunnelLocation | null>();
  // Bumped per notify, so a read that raced a move is not cached as current.
  const generation = new Map<string, number>();
  const held = new Set<string>();
  const queued = new Map<string, Promise<void>>();
  let listening = false;

  store.listen(
    (environmentId, instanceId) => {
      cache.delete(environmentId);
      generation.set(environmentId, (generation.get(environmentId) ?? 0) + 1);
      // Another instance took the tunnel over: ours is stale (the environment dialled again elsewhere).
      if (instanceId && instanceId !== me.instanceId && held.has(environmentId)) hooks.movedAway(environmentId);
    },
    (up) => {
      listening = up;
      cache.clear();
    },
  );

  /** Claims and releases of one environment happen in the order its tunnel opened and closed. */
  function inTurn(environmentId: string, op: () => Promise<void>): void {
    const next = (queued.get(environmentId) ?? Promise.resolve())
      .then(op)
      .catch((error: unknown) => console.error(`[gatehouse relay] tunnel location of ${environmentId}: ${(error as Error).message}`));
    queued.set(environmentId, next);
    void next.then(() => queued.get(environmentId) === next && queued.delete(environmentId));
  }

  const renewer = setInterval(() => {
    void store.renew(me.instanceId, [...held], clock.now() + LEASE_MS).catch(() => undefined);
  }, LEASE_RENEW_MS);
  renewer.unref();

  return {
    instance: me,

    opened(environmentId: string): void {
      held.add(environmentId);
      inTurn(environmentId, () => store.claim(environmentId, { ...me, leaseExpiresAt: clock.now() + LEASE_MS }));
    },

    closed(environmentId: string): void {
      held.delete(environmentId);
      inTurn(environmentId, () => store.release(environmentId, me.instanceId));
    },

    /** The other instance holding a live lease on this environment's tunnel, or null. */
    async locate(environmentId: string): Promise<TunnelLocation | null> {
      const now = clock.now();
      const cached = cache.get(environmentId);
      if (listening && cached !== undefined && (cached === null || cached.leaseExpiresAt > now)) return cached;
      const seen = generation.get(environmentId) ?? 0;
      const found = await store.locate(environmentId, now);
      const location = found && found.instanceId !== me.instanceId ? found : null;
      if (listening && (generation.get(environmentId) ?? 0) === seen) cache.set(environmentId, location);
      return location;
    },

    /** A location that failed us (its instance did not answer) is looked up afresh next time. */
    forget(environmentId: string): void {
      cache.delete(environmentId);
    },

    /** Releases every lease this instance holds (a clean stop). */
    async close(): Promise<void> {
      clearInterval(renewer);
      await Promise.all(queued.values());
      await store.releaseAll(me.instanceId).catch(() => undefined);
    },

    /** Stops renewing without releasing anything: what a killed instance leaves behind (tests). */
    abandon(): void {
      clearInterval(renewer);
    },
  };
}

export type TunnelLocations = ReturnType<typeof createTunnelLocations>;

import type { EnvDeps } from '../deps';

/** Per owner session: a leaked tab loop cannot pin unbounded server resources (S45). */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 16;

/**
 * Open `access.events` streams per owner session, shared by the tRPC procedure and the HTTP fan-out
 * writer so one session cannot get past the cap by using both.
 */
export class SubscriptionSlots {
  private readonly open = new Map<string, number>();

  constructor(private readonly max = MAX_SUBSCRIPTIONS_PER_SESSION) {}

  /** Takes a slot; returns its release (idempotent), or null when the session is at the cap. */
  acquire(key: string): (() => void) | null {
    const count = this.open.get(key) ?? 0;
    if (count >= this.max) return null;
    this.open.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    };
  }
}

/** Slots kept per environment (one per bus): two environments in a process never share a cap. */
function perEnvironment(max: number): (deps: EnvDeps) => SubscriptionSlots {
  const byEnvironment = new WeakMap<EnvDeps['bus'], SubscriptionSlots>();
  return (deps) => {
    let slots = byEnvironment.get(deps.bus);
    if (!slots) byEnvironment.set(deps.bus, (slots = new SubscriptionSlots(max)));
    return slots;
  };
}

/** One environment's `access.events` slots, keyed by owner session. */
export const subscriptionSlotsOf = perEnvironment(MAX_SUBSCRIPTIONS_PER_SESSION);

/** Open `client.session` streams per client session: a client needs one, a few tabs or retries at most. */
export const MAX_SESSION_STREAMS_PER_CLIENT_SESSION = 4;

/** One environment's `client.session` stream slots, keyed by the client session's token hash. */
export const clientSessionStreamSlotsOf = perEnvironment(MAX_SESSION_STREAMS_PER_CLIENT_SESSION);

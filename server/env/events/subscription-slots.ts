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

/** The slots of this process (owner keys are session-token hashes, so environments do not collide). */
export const accessSubscriptionSlots = new SubscriptionSlots();

/** Open `client.session` streams per client session: a client needs one, a few tabs or retries at most. */
export const MAX_SESSION_STREAMS_PER_CLIENT_SESSION = 4;

/** Keyed by the client session's token hash. */
export const clientSessionStreamSlots = new SubscriptionSlots(MAX_SESSION_STREAMS_PER_CLIENT_SESSION);

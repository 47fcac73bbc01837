/**
 * A token bucket: `burst` takes at once, refilled at `perSecond`. Time comes from the caller (an
 * injected clock), so tests drive it by hand; a clock that steps back refills nothing.
 */
export interface TokenBucket {
  /** Takes one token if there is one. */
  take(now: number): boolean;
}

export function createTokenBucket(opts: { perSecond: number; burst: number }): TokenBucket {
  let tokens = opts.burst;
  let last: number | null = null;
  return {
    take(now) {
      if (last === null || now > last) {
        if (last !== null) tokens = Math.min(opts.burst, tokens + ((now - last) / 1000) * opts.perSecond);
        last = now;
      }
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

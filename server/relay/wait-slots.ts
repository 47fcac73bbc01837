// Held waits at the relay (S54): no account, key or address holds more than a fixed share, so one
// tenant cannot take every environment's waiting room. Over its share a caller hears 429.
export interface WaitLimits {
  perAccount: number;
  perThumbprint: number;
  perAddress: number;
}

export const DEFAULT_WAIT_LIMITS: WaitLimits = { perAccount: 32, perThumbprint: 2, perAddress: 64 };

export function createWaitSlots(limits: WaitLimits = DEFAULT_WAIT_LIMITS) {
  const held = { account: new Map<string, number>(), thumbprint: new Map<string, number>(), address: new Map<string, number>() };
  const counts = (keys: { account: string; thumbprint: string; address: string }) =>
    [
      [held.account, keys.account, limits.perAccount],
      [held.thumbprint, keys.thumbprint, limits.perThumbprint],
      [held.address, keys.address, limits.perAddress],
    ] as const;
  return {
    /** A release function, or null when one of the caller's shares is full. */
    acquire(keys: { account: string; thumbprint: string; address: string }): (() => void) | null {
      const all = counts(keys);
      if (all.some(([map, key, max]) => (map.get(key) ?? 0) >= max)) return null;
      for (const [map, key] of all) map.set(key, (map.get(key) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        for (const [map, key] of all) {
          const left = (map.get(key) ?? 1) - 1;
          if (left <= 0) map.delete(key);
          else map.set(key, left);
        }
      };
    },
    held: () => [...held.account.values()].reduce((a, b) => a + b, 0),
  };
}

export type WaitSlots = ReturnType<typeof createWaitSlots>;

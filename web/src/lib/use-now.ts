import { useEffect, useState } from 'react';

/** The current time, re-read every `intervalMs`: one timer keeps every "2m ago" on the page live. */
export function useNow(intervalMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

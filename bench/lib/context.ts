// What every benchmark scenario gets: the mode (smoke or full), the load process, and helpers.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Worker } from './worker-handle';

export interface BenchContext {
  smoke: boolean;
  worker: Worker;
  log(message: string): void;
  /** Picks the smoke or the full size of a parameter. */
  size(full: number, smoke: number): number;
}

/** One run's numbers of one scenario: metric name → value. */
export type RunMetrics = Record<string, number>;

/** Event-loop delay of this process (where the servers run) while `work` runs, in ms. */
export async function withLoopDelay<T>(work: () => Promise<T>): Promise<{ result: T; loopP99: number; loopMax: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  try {
    const result = await work();
    return { result, loopP99: histogram.percentile(99) / 1e6, loopMax: histogram.max / 1e6 };
  } finally {
    histogram.disable();
  }
}

let gcFn: (() => void) | null = null;
/** A full GC (for heap-per-subscriber numbers), without needing --expose-gc on the command line. */
export function fullGc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

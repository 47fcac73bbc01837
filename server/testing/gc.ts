// A real garbage collection for memory-bound tests, without needing node --expose-gc.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage (twice, so finalizers run) and returns the heap and RSS in MiB. */
export function settledMemory(): { heapMiB: number; rssMiB: number } {
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapMiB: heapUsed / 2 ** 20, rssMiB: rss / 2 ** 20 };
}

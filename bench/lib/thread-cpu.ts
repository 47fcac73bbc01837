// CPU ms per thread group of this process, from /proc (Linux).
import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU ms per thread group from /proc, to see where a child's CPU goes. All of Node 20's threads are
 * called "node", so they are told apart by creation order (checked with a WebCrypto loop and an
 * allocation loop): the main thread, then V8's platform threads (GC helpers, background compiles:
 * the first five after main), then libuv's pool (started on first use: WebCrypto jobs, fs).
 */
export function threadCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  const tick = 1000 / 100; // USER_HZ
  const tids = readdirSync('/proc/self/task')
    .map(Number)
    .sort((a, b) => a - b);
  tids.forEach((tid, index) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * tick;
      const group = tid === process.pid ? 'main' : index <= 5 ? 'v8' : 'pool';
      out[group] = (out[group] ?? 0) + ms;
    } catch {
      // the thread ended between the listing and the read
    }
  });
  return out;
}


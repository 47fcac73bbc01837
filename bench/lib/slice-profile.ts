// GATEHOUSE_BENCH_SLICE_PROFILE=DIR: a CPU profile of just one timed slice, taken with the
// inspector in the process being measured (a whole-process --cpu-prof is mostly set-up and
// request signing). Off unless the variable is set.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SLICE_PROFILE_DIR = process.env.GATEHOUSE_BENCH_SLICE_PROFILE || null;

const post = (session: Session, method: string) => new Promise<unknown>((resolve, reject) => session.post(method, (error, result) => (error ? reject(error) : resolve(result))));

/** Starts profiling this process; the returned function stops and writes DIR/<name>-<time>.cpuprofile. */
export async function startSliceProfile(): Promise<(name: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.start');
  return async (name) => {
    const { profile } = (await post(session, 'Profiler.stop')) as { profile: unknown };
    writeFileSync(join(SLICE_PROFILE_DIR ?? '.', `${name}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** Runs `work`, profiled when GATEHOUSE_BENCH_SLICE_PROFILE is set. */
export async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (!SLICE_PROFILE_DIR) return work();
  const stop = await startSliceProfile();
  try {
    return await work();
  } finally {
    await stop(name);
  }
}

// Starts bench/worker.ts in its own process (the load never shares the servers' event loop) and
// sends it one command at a time.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerCommand, WorkerResults } from './worker-protocol';

// Compiled (`npm run bench`: this module is a chunk beside worker.js) or through tsx (worker.ts).
const workerFile = process.env.GATEHOUSE_BENCH_WORKER ?? fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../worker.ts' : './worker.js', import.meta.url));
const COMMAND_TIMEOUT_MS = 5 * 60_000;

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

export interface Worker {
  call<C extends WorkerCommand['cmd']>(cmd: C, args?: Extract<WorkerCommand, { cmd: C }>['args'], timeoutMs?: number): Promise<WorkerResults[C]>;
  /** Events the worker sends on its own (e.g. "pending" with a thumbprint). */
  on(event: string, listener: (data: unknown) => void): () => void;
  close(): Promise<void>;
}

export async function startWorker(): Promise<Worker> {
  // Same loader flags as this process (tsx), without profiling flags: profile one side at a time.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof') && !a.startsWith('--heap-prof') && !a.startsWith('--inspect'));
  const child: ChildProcess = fork(workerFile, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<(data: unknown) => void>>();
  let nextId = 1;
  let exited = false;

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bench worker did not start in 30 s')), 30_000);
    child.on('message', (message: { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string; data?: unknown }) => {
      if (message.event === 'ready') {
        clearTimeout(timer);
        resolve();
        return;
      }
      if (message.event) {
        for (const listener of listeners.get(message.event) ?? []) listener(message.data);
        return;
      }
      const call = pending.get(message.id ?? -1);
      if (!call) return;
      pending.delete(message.id!);
      clearTimeout(call.timer);
      if (message.ok) call.resolve(message.result);
      else call.reject(new Error(`worker: ${message.error}`));
    });
  });
  child.on('exit', (code) => {
    exited = true;
    for (const call of pending.values()) {
      clearTimeout(call.timer);
      call.reject(new Error(`bench worker exited (${code})`));
    }
    pending.clear();
  });
  await ready;

  return {
    call(cmd, args, timeoutMs = COMMAND_TIMEOUT_MS) {
      if (exited) return Promise.reject(new Error('bench worker is not running'));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`worker command ${cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
        child.send({ id, cmd, args });
      });
    },
    on(event, listener) {
      const set = listeners.get(event) ?? new Set();
      set.add(listener);
      listeners.set(event, set);
      return () => set.delete(listener);
    },
    async close() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

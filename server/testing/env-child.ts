// A real `gatehouse env start` child process for tests that kill or trace it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/gatehouse-dev.js', import.meta.url));

/**
 * Starts `gatehouse env start` on a free port (under `wrap`, e.g. `['strace', …, '--']`, when given)
 * and resolves with its URL once it prints it. `children` collects it for the caller's cleanup.
 */
export function startEnvChild(dataDir: string, children: ChildProcess[], wrap: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const command = [...wrap, process.execPath, BIN, 'env', 'start', '--data-dir', dataDir, '--port', '0'];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`env did not start: ${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Environment\s+(http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]! });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`env exited (${code}) before starting: ${out}`)));
  });
}

export const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

export function killAll(children: ChildProcess[]): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

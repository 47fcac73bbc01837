// Test helpers: the real `gatehouse` CLI as a child process, and clients seeded through the services.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { requestClient } from '../../env/connect/client-requests.service';
import { createClientSession } from '../../env/connect/client-sessions.service';
import type { EnvDeps } from '../../env/deps';

const repoRoot = join(import.meta.dirname, '../../..');
const bin = join(repoRoot, 'bin/gatehouse-dev.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A long-running CLI process whose stdout lines can be awaited (no sleeps). */
export interface CliProcess {
  /** The child's process id (to stop or continue it). */
  pid: number;
  lines: string[];
  stderr(): string;
  /** Resolves with the first stdout line (seen or still to come) that matches; rejects if the process exits first. */
  waitForLine(match: (line: string) => boolean): Promise<string>;
  exited: Promise<CliResult>;
  interrupt(): Promise<CliResult>;
}

/** The test runner's environment without the variables the CLI reads, plus the test's own. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['GATEHOUSE_DATA_DIR', 'GATEHOUSE_ENV_PORT', 'GATEHOUSE_RELAY_PORT', 'GATEHOUSE_RELAY_URL', 'GATEHOUSE_ENV_PUBLIC_URL', 'GATEHOUSE_RELAY_DATABASE_URL']) delete env[name];
  return { ...env, ...extra };
}

export function startCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: cliEnv(env), stdio: 'pipe' });
  const lines: string[] = [];
  let partial = '';
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<CliResult>((resolve) =>
    child.on('close', (code) => {
      for (const listener of listeners) listener();
      resolve({ code, stdout, stderr });
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid ?? 0,
    lines,
    stderr: () => stderr,
    exited,
    waitForLine: (match) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found !== undefined) {
            listeners.delete(check);
            resolve(found);
          } else if (done || child.exitCode !== null) {
            listeners.delete(check);
            reject(new Error(`gatehouse ${args.join(' ')} exited (${child.exitCode}) before the line arrived.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
          }
        };
        listeners.add(check);
        check();
      }),
    interrupt: () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

export const runCli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => startCli(args, env).exited;

/** A valid-looking thumbprint (43 base64url characters) starting with `prefix`. */
export const thumbprintWith = (prefix: string): string => prefix.padEnd(43, 'x');

export function seedClient(deps: EnvDeps, thumbprint: string, client: { label?: string; os?: string; deviceType?: 'desktop' | 'mobile' | 'tablet' | 'bot' | 'unknown' } = {}) {
  return requestClient(deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner', client });
}

/** An open client session, so rejecting or revoking has something to end. */
export function seedSession(deps: EnvDeps, thumbprint: string): void {
  deps.db.transaction((tx) => void createClientSession(tx, deps.clock.now(), thumbprint, 'owner'));
}

/** Stores a mode value no release writes, as a damaged database would. */
export function corruptSecurityMode(deps: EnvDeps, value: string): void {
  deps.db.$client.pragma('ignore_check_constraints = ON');
  deps.db.$client.prepare("INSERT OR REPLACE INTO connect_settings (id, security_mode, updated_at) VALUES (1, ?, '2026-01-01T00:00:00.000Z')").run(value);
  deps.db.$client.pragma('ignore_check_constraints = OFF');
}

// PostgreSQL for tests. Two roles in one file:
//
// 1. A vitest globalSetup (default export): when GATEHOUSE_TEST_DATABASE_URL is unset it runs
//    `.ci/postgres.sh start` (installs Debian's postgresql when missing and root, initdb + pg_ctl
//    into a temporary directory on 127.0.0.1) and stops it after the run, so plain `npm test`
//    works on a fresh machine. If that fails, the run goes on and only the tests that need
//    PostgreSQL fail, with the reason.
// 2. Helpers for those tests: `testDatabaseUrl()` (fails with a clear message when there is no
//    database, never skips), `createTestDatabase()` (a fresh database per suite, dropped after)
//    and `startTcpProxy()` (a cuttable TCP hop, to take the database "down" and back).
//    `startThrowawayPostgres()` and `createTestDatabase(label, base)` also serve bench/relay-pg.ts.
import { execFile } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';

export const TEST_DATABASE_ENV = 'GATEHOUSE_TEST_DATABASE_URL';

declare module 'vitest' {
  export interface ProvidedContext {
    gatehouseTestDatabaseUrl: string;
    gatehouseTestDatabaseProblem: string;
  }
}

const script = fileURLToPath(new URL('../../.ci/postgres.sh', import.meta.url));

function runScript(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [script, ...args], { timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024, env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${script} ${args.join(' ')} failed: ${stderr.trim().split('\n').slice(-5).join(' | ') || error.message}`));
      else resolve(stdout);
    });
  });
}

export interface ThrowawayPostgres {
  /** `postgres://…/gatehouse_test` on 127.0.0.1; its user may CREATE DATABASE. */
  url: string;
  /** Stops the cluster and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Runs `.ci/postgres.sh start` (a throwaway cluster on 127.0.0.1); also used by `bench/relay-pg.ts`.
 * `firstPort` is where the search for a free port begins (default $GATEHOUSE_TEST_PG_PORT or 55432).
 */
export async function startThrowawayPostgres(opts: { firstPort?: number } = {}): Promise<ThrowawayPostgres> {
  const env = opts.firstPort === undefined ? process.env : { ...process.env, GATEHOUSE_TEST_PG_PORT: String(opts.firstPort) };
  const out = await runScript(['start'], env);
  const value = (name: string) => new RegExp(`^export ${name}='([^']*)'$`, 'm').exec(out)?.[1] ?? '';
  const url = value(TEST_DATABASE_ENV);
  const dir = value('GATEHOUSE_TEST_PG_DIR');
  const stop = async () => {
    if (dir) await runScript(['stop', dir]);
  };
  if (!url) {
    await stop();
    throw new Error(`${script} start printed no ${TEST_DATABASE_ENV}`);
  }
  return { url, stop };
}

/** vitest globalSetup: provides a PostgreSQL URL to every test file, starting a cluster if needed. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const given = process.env[TEST_DATABASE_ENV];
  if (given) {
    project.provide('gatehouseTestDatabaseUrl', given);
    project.provide('gatehouseTestDatabaseProblem', '');
    return;
  }
  let cluster: ThrowawayPostgres;
  try {
    cluster = await startThrowawayPostgres();
  } catch (error) {
    project.provide('gatehouseTestDatabaseUrl', '');
    project.provide('gatehouseTestDatabaseProblem', (error as Error).message);
    return;
  }
  project.provide('gatehouseTestDatabaseUrl', cluster.url);
  project.provide('gatehouseTestDatabaseProblem', '');
  return () => cluster.stop();
}

function injected(key: 'gatehouseTestDatabaseUrl' | 'gatehouseTestDatabaseProblem'): string {
  try {
    return inject(key) ?? '';
  } catch {
    return ''; // not running under vitest's globalSetup
  }
}

/** The PostgreSQL URL the tests use; throws (the test fails) when none was provided. */
export function testDatabaseUrl(): string {
  const url = process.env[TEST_DATABASE_ENV] || injected('gatehouseTestDatabaseUrl');
  if (url) return url;
  const problem = injected('gatehouseTestDatabaseProblem');
  throw new Error(
    `These tests need PostgreSQL and ${TEST_DATABASE_ENV} is not set${problem ? ` (starting a throwaway cluster failed: ${problem})` : ''}. ` +
      `Run \`eval "$(.ci/postgres.sh start)"\` first (stop it with \`.ci/postgres.sh stop\`), or point ${TEST_DATABASE_ENV} at a database whose user may CREATE DATABASE.`,
  );
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.href;
}

/**
 * A fresh, empty database next to the one in the test URL (or in `base`), so suites running at
 * once never share tables.
 */
export async function createTestDatabase(label: string, base: string = testDatabaseUrl()): Promise<TestDatabase> {
  const name = `gh_${label.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30)}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(base, name),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface TcpProxy {
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  port: number;
  /** The database "goes down": open connections are cut and new ones refused. */
  cut(): Promise<void>;
  /** The database "comes back" on the same address. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP hop on 127.0.0.1 in front of `target` (a postgres:// URL) that a test can cut and restore. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const t = new URL(target);
  const targetHost = t.hostname;
  const targetPort = Number(t.port || 5432);
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const onConnection = (client: Socket) => {
    track(client);
    const upstream = connect(targetPort, targetHost);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, '127.0.0.1', () => ok((server.address() as AddressInfo).port));
    });
  const port = await listen(0);
  let listening = true;
  const stop = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.href;
    },
    cut: stop,
    async restore() {
      if (listening) return;
      server = createServer(onConnection);
      await listen(port);
      listening = true;
    },
    close: stop,
  };
}

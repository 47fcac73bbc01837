// SIGTERM on a real `gatehouse relay start` on PostgreSQL (SPEC §12): it stops taking tunnels,
// sends GOAWAY so the environment moves, releases its tunnel lease and exits 0 within its bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { devIdToken } from '../cli/commands/dev-id-token';
import { startEnvironment, type EnvRuntime } from '../env/env-app';
import { exited, killAll } from '../testing/env-child';
import { createTestDatabase, type TestDatabase } from '../testing/postgres';
import { openPgRelayStore } from './pg-store';
import type { RelayStore } from './store';

const BIN = fileURLToPath(new URL('../../bin/gatehouse-dev.js', import.meta.url));
let database: TestDatabase;
let store: RelayStore;
let dir: string;
let env: EnvRuntime | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('relay_sigterm');
  store = await openPgRelayStore(database.url);
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-sigterm-'));
  writeFileSync(join(dir, 'secret'), `${'x'.repeat(40)}\n`, { mode: 0o600 });
});

afterAll(async () => {
  killAll(children);
  await env?.close();
  await store?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse relay start on SIGTERM', () => {
  it('drains: GOAWAY to the tunnel, its lease released, exit 0', async () => {
    const args = ['relay', 'start', '--data-dir', join(dir, 'data'), '--port', '0', '--dev-issuer', '--database-url', database.url, '--internal-url', 'http://127.0.0.1:0', '--internal-secret-file', join(dir, 'secret')];
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await vi.waitFor(() => expect(out).toMatch(/Internal hop\s+http:\/\/127\.0\.0\.1:\d+/), { timeout: 30_000, interval: 50 });
    const relayUrl = /Relay\s+(http:\/\/\S+)/.exec(out)![1]!;

    const moves: string[] = [];
    env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, tunnel: { backoffBaseMs: 100, backoffMaxMs: 500, log: (line) => moves.push(line) } });
    await env.link(relayUrl, await devIdToken(relayUrl, 'owner'));
    await vi.waitFor(async () => expect(await store.tunnelLocations!.locate(env!.environmentId, Date.now())).not.toBeNull(), { timeout: 10_000, interval: 50 });

    const signalled = Date.now();
    child.kill('SIGTERM');
    await exited(child);
    expect(child.exitCode).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(12_000); // drain is bounded at 10 s
    expect(out).toContain('Draining: environments are asked to move (GOAWAY)');
    expect(moves.some((line) => line.includes('the relay asked this tunnel to move'))).toBe(true);
    expect(await store.tunnelLocations!.locate(env.environmentId, Date.now())).toBeNull();
  }, 60_000);
});

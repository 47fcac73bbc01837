// An environment that holds its tunnel but stops answering (a real `gatehouse env start` child,
// SIGSTOPped: the relay's WebSocket stays open, nothing comes back): a routed request is answered
// 504 `endpoint_timed_out` within the relay's bound, never left hanging; once the environment runs
// again, the same tunnel serves again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCli, type CliProcess } from '../cli/commands/cli-testing';
import { startRelay, type RelayRuntime } from './relay-app';

const ANSWER_TIMEOUT_MS = 1_000;
let dir: string;
let relay: RelayRuntime;
let env: CliProcess;
let environmentId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-stalled-env-'));
  relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true, tunnel: { answerTimeoutMs: ANSWER_TIMEOUT_MS } });
  env = startCli(['env', 'start', '--json', '--data-dir', join(dir, 'env'), '--port', '0', '--relay', relay.publicUrl, '--account', 'owner']);
  environmentId = (JSON.parse(await env.waitForLine(() => true)) as { environmentId: string }).environmentId;
  await vi.waitFor(() => expect(relay.deps.tunnels.has(environmentId)).toBe(true), { timeout: 20_000, interval: 50 });
}, 60_000);
afterAll(async () => {
  if (env) process.kill(env.pid, 'SIGCONT');
  await env?.interrupt();
  await relay?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a routed request to an environment that stalls', { timeout: 60_000 }, () => {
  it('is answered 504 within the bound while the tunnel stays up, and served again once the environment runs', async () => {
    const health = `${relay.publicUrl}/e/${environmentId}/healthz`;
    expect((await fetch(health)).status).toBe(200);
    process.kill(env.pid, 'SIGSTOP');
    let stopped = true;
    try {
      // The test's own deadline, far past the bound: a hang fails here instead of passing late.
      const res = await fetch(health, { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS + 20_000) });
      expect(res.status).toBe(504);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toMatchObject({ reason: 'endpoint_timed_out' });
      expect(relay.deps.tunnels.has(environmentId)).toBe(true);
      process.kill(env.pid, 'SIGCONT');
      stopped = false;
      await vi.waitFor(async () => expect((await fetch(health)).status).toBe(200), { timeout: 20_000, interval: 100 });
    } finally {
      if (stopped) process.kill(env.pid, 'SIGCONT');
    }
  });
});

// The tunnel when things go wrong (SPEC §11): a relay restart, a black-holed link, an environment
// process killed, and load (many streams, a client that stops reading). Real processes and sockets.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectToEnvironment, fetchWhoAmI } from '../shared/client/connect';
import { dpopFetch } from '../shared/client/dpop-fetch';
import { ConnectFailedError } from '../shared/client/errors';
import { createDpopSigner, generateDpopKeyPair } from '../shared/dpop';
import { createOwnerClient } from './env/owner/owner-client';
import { startEnvironment, type EnvRuntime } from './env/env-app';
import { startRelay, type RelayRuntime } from './relay/relay-app';
import { startBlackholeProxy } from './testing/blackhole-proxy';
import { startStack, waitForTunnel, type Stack } from './testing/stack';

const newSigner = async () => createDpopSigner(await generateDpopKeyPair(false));

describe('relay restart', () => {
  let dir: string;
  let relay: RelayRuntime;
  let env: EnvRuntime;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-restart-'));
    relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true });
    env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, tunnel: { log: () => undefined } });
    await env.link(relay.publicUrl, await relay.devIssuer!.issueIdToken('owner'));
    await waitForTunnel({ relay, env });
  });
  afterAll(async () => {
    await env.close();
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the environment reconnects by itself, and a client waiting across the restart connects once approved', async () => {
    const owner = createOwnerClient(env.publicUrl, env.adminToken, 'api');
    await owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const port = (relay.server.address() as AddressInfo).port;
    const relayUrl = relay.publicUrl;
    const signer = await newSigner();
    const retries: string[] = [];
    const pending: string[] = [];
    const connecting = connectToEnvironment({
      relayUrl,
      environmentId: env.environmentId,
      signer,
      getIdToken: () => relay.devIssuer!.issueIdToken('owner'),
      waitSeconds: 2,
      onPending: (p) => pending.push(p.approvalStatus),
      onRetry: (r) => retries.push(r.reason),
    });
    await vi.waitFor(() => expect(pending.length).toBeGreaterThan(0), { timeout: 10_000 });

    await relay.close();
    await vi.waitFor(() => expect(env.tunnel!.status().state).toBe('offline'), { timeout: 5_000 });
    expect(env.tunnel!.status()).toMatchObject({ state: 'offline', relayUrl });
    await vi.waitFor(() => expect(retries.length).toBeGreaterThan(0), { timeout: 10_000 });

    relay = await startRelay({ dataDir: join(dir, 'relay'), port, devIssuer: true });
    // Backoff is full jitter up to 0.5 s doubling: a few seconds at most for the first attempts.
    await waitForTunnel({ relay, env });
    expect(env.tunnel!.status()).toMatchObject({ state: 'connected', relayUrl });

    await owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await connecting;
    expect(await fetchWhoAmI(session, signer)).toMatchObject({ clientProofKeyThumbprint: signer.thumbprint });
    expect(retries.every((r) => ['relay_error', 'network', 'environment_offline'].includes(r))).toBe(true);
  }, 60_000);
});

describe('a black-holed link', () => {
  let dir: string;
  let relay: RelayRuntime;
  let env: EnvRuntime;
  let proxy: Awaited<ReturnType<typeof startBlackholeProxy>>;
  const liveness = { pingIntervalMs: 100, deadAfterMs: 600 };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-blackhole-'));
    relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true, tunnel: liveness });
    proxy = await startBlackholeProxy((relay.server.address() as AddressInfo).port);
    env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, tunnel: { ...liveness, log: () => undefined } });
    // The environment reaches the relay only through the proxy.
    await env.link(proxy.url, await relay.devIssuer!.issueIdToken('owner'));
    await waitForTunnel({ relay, env });
  });
  afterAll(async () => {
    await env.close();
    await relay.close();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('both sides declare the tunnel dead from missing PINGs, and the environment reconnects', async () => {
    const before = relay.deps.tunnels.info(env.environmentId)!;
    const states: string[] = [];
    env.tunnel!.onStatus((s) => states.push(s.state === 'offline' ? `offline: ${s.lastError}` : s.state));
    proxy.blackhole(); // bytes stop; no socket is closed
    await vi.waitFor(() => expect(states).toContain('connected'), { timeout: 10_000 });
    expect(states[0]).toBe('offline: no PING answered in time: the tunnel was dead');
    // The relay let the silent tunnel go on its own (the proxy never closed it) and holds the new one.
    expect(relay.deps.tunnels.info(env.environmentId)!.openedAt).toBeGreaterThan(before.openedAt);
    const health = await fetch(`${relay.publicUrl}/e/${env.environmentId}/healthz`);
    expect(health.status).toBe(200);
  }, 30_000);
});

describe('an environment process killed', () => {
  let dir: string;
  let relay: RelayRuntime;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-killed-'));
    relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true });
  });
  afterAll(async () => {
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('`gatehouse env start --relay` links and tunnels; after kill -9 the relay answers environment_offline at once', async () => {
    const bin = join(import.meta.dirname, '../bin/gatehouse-dev.js');
    const child = spawn(process.execPath, [bin, 'env', 'start', '--port', '0', '--data-dir', join(dir, 'env'), '--relay', relay.publicUrl, '--account', 'owner'], { stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    try {
      await vi.waitFor(() => expect(out).toMatch(/tunnel: connected to /), { timeout: 30_000, interval: 50 });
      const environmentId = /\(id (env_[a-z2-7]{26})\)/.exec(out)![1]!;
      expect(out).toContain(`Endpoint      ${relay.publicUrl}/e/${environmentId}`);
      expect((await fetch(`${relay.publicUrl}/e/${environmentId}/healthz`)).status).toBe(200);

      const exited = new Promise((r) => child.once('close', r));
      child.kill('SIGKILL');
      await exited;
      await vi.waitFor(() => expect(relay.deps.tunnels.has(environmentId)).toBe(false), { timeout: 5_000, interval: 10 });
      const error = await connectToEnvironment({ relayUrl: relay.publicUrl, environmentId, signer: await newSigner(), getIdToken: () => relay.devIssuer!.issueIdToken('owner'), wait: false }).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectFailedError);
      expect(error).toMatchObject({ reason: 'environment_offline' });
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('load through one tunnel', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { tunnel: { log: () => undefined } } });
    await waitForTunnel(stack);
  });
  afterAll(async () => stack.close());

  it('1,000 concurrent client calls all answer', async () => {
    const signer = await stack.newSigner();
    const session = await stack.connect(signer);
    const f = dpopFetch(signer, () => session.accessToken);
    const results = await Promise.all(Array.from({ length: 1000 }, () => f(`${session.endpoint}/trpc/client.whoami`).then((r) => r.status)));
    expect(results.filter((s) => s === 200)).toHaveLength(1000);
  }, 180_000); // each call commits its DPoP marker (one fsync): on a loaded 2-core machine that takes a while

  it('100 SSE streams through one tunnel stay open, and all end when the tunnel is cut', async () => {
    // 25 devices with 4 session streams each (a client session may hold at most 4).
    const devices = await Promise.all(
      Array.from({ length: 25 }, async () => {
        const signer = await stack.newSigner();
        const session = await stack.connect(signer);
        return { session, f: dpopFetch(signer, () => session.accessToken) };
      }),
    );
    const streams = await Promise.all(
      devices.flatMap(({ session, f }) =>
        Array.from({ length: 4 }, async () => {
          const res = await f(`${session.endpoint}/trpc/client.session`, { headers: { accept: 'text/event-stream' } });
          expect(res.status).toBe(200);
          const reader = res.body!.getReader();
          let text = '';
          while (!text.includes('"status":"active"')) {
            const { done, value } = await reader.read();
            if (done) throw new Error(`the stream ended before it was active: ${text.slice(0, 200)}`);
            text += new TextDecoder().decode(value);
          }
          return reader;
        }),
      ),
    );
    expect(streams).toHaveLength(100);
    stack.relay.deps.tunnels.disconnect(stack.env.environmentId);
    // Every stream ends (cleanly or with an error) once its tunnel is gone: none hangs.
    const ends = await Promise.all(
      streams.map(async (reader) => {
        try {
          for (;;) if ((await reader.read()).done) return 'done';
        } catch {
          return 'error';
        }
      }),
    );
    expect(ends).toHaveLength(100);
    await waitForTunnel(stack);
  }, 60_000);
});

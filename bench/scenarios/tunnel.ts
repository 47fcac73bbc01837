// T1–T4 (issue 14): what the tunnel (SPEC §11) costs a client, against the same environment called
// direct in the same run. T1/T2 call `client.whoami` at the env's own port and at its routed
// endpoint `{relay}/e/{id}` on one stack (the env accepts both URLs), in interleaved slices; T3
// times an owner's revoke → `ended` on 100 `client.session` SSE streams (the only SSE a client
// reaches through the relay: it forwards DPoP /trpc/* only); T4 restarts the relay on its port and
// data dir and times until it holds the tunnel again. Load and streams run in the worker process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDpopProof, type DpopSigner } from '../../shared/dpop';
import { approveClient } from '../../server/env/connect/client-decisions.service';
import { requestClient } from '../../server/env/connect/client-requests.service';
import { setSecurityMode } from '../../server/env/connect/security-mode.service';
import { MAX_SESSION_STREAMS_PER_CLIENT_SESSION } from '../../server/env/events/subscription-slots';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS } from '../../server/env/tunnel/tunnel-agent';
import { startRelay } from '../../server/relay/relay-app';
import { routedEndpointOf } from '../../server/relay/routing';
import { startStack, waitForTunnel, type Stack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { rawGet } from '../lib/raw-http-client';
import { nowMs, percentile, sleep, waitUntil } from '../lib/stats';

export const TUNNEL_IN_FLIGHT = 64;
export const SSE_STREAMS = 100;
/** T4: the tunnel is back within this much more than the agent's backoff step. */
export const T4_EXTRA_MS = 2_000;

/** One way to the environment: its own port, or its routed endpoint at the relay. */
interface Side {
  name: 'direct' | 'tunnel';
  host: string;
  port: number;
  /** The URL the client calls, without `/trpc/…` (what DPoP `htu` is made from). */
  base: string;
}

function sidesOf(stack: Stack): Side[] {
  const side = (name: Side['name'], base: string): Side => {
    const url = new URL(base);
    return { name, host: url.hostname, port: Number(url.port), base };
  };
  return [side('direct', stack.env.publicUrl), side('tunnel', routedEndpointOf(stack.relay.publicUrl, stack.env.environmentId))];
}

interface Client {
  signer: DpopSigner;
  accessToken: string;
}

/** Headers of `count` calls to `procedure`, each with its own fresh proof (the env consumes every jti). */
async function proofHeaders(client: Client, side: Side, procedure: string, count: number): Promise<Record<string, string>[]> {
  const htu = `${side.base}/trpc/${procedure}`;
  const out: Record<string, string>[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ authorization: `DPoP ${client.accessToken}`, dpop: await createDpopProof(client.signer, { htm: 'GET', htu, accessToken: client.accessToken }) });
  }
  return out;
}

async function whoamiRequests(client: Client, side: Side, count: number): Promise<string[]> {
  const path = `${new URL(side.base).pathname.replace(/\/$/, '')}/trpc/client.whoami`;
  return (await proofHeaders(client, side, 'client.whoami', count)).map((headers) => rawGet(side.host, side.port, path, headers));
}

interface Tally {
  sent: number;
  ms: number;
  bad: number;
  latencies: number[];
  samples: string[];
}
const tally = (): Tally => ({ sent: 0, ms: 0, bad: 0, latencies: [], samples: [] });

async function whoamiSlice(ctx: BenchContext, client: Client, side: Side, into: Tally, count: number, concurrency: number): Promise<void> {
  // Proofs live 60 s: made right before their slice, which is bounded well below that.
  const warmup = await whoamiRequests(client, side, concurrency);
  const bodies = await whoamiRequests(client, side, count);
  const result = await ctx.worker.call('load', {
    host: side.host,
    port: side.port,
    path: '/',
    raw: true,
    warmup,
    bodies,
    concurrency,
    maxDurationMs: 30_000,
    expectStatus: [200, 200],
    expectContains: '"clientProofKeyThumbprint"',
    keepLatencies: concurrency === 1,
  });
  into.sent += result.sent;
  into.ms += result.ms;
  into.bad += result.errors + result.unexpected;
  into.latencies.push(...result.latencies);
  if (result.sample && into.samples.length < 3) into.samples.push(result.sample);
}

async function connectedClient(stack: Stack, signer: DpopSigner): Promise<Client> {
  const session = await stack.connect(signer, { wait: false });
  if (session.endpoint !== routedEndpointOf(stack.relay.publicUrl, stack.env.environmentId)) throw new Error(`expected the routed endpoint, got ${session.endpoint}`);
  return { signer, accessToken: session.accessToken };
}

/** T1 (64 in flight) and T2 (one at a time): `client.whoami` direct and through the tunnel, interleaved. */
export async function tunnelCallsRun(ctx: BenchContext): Promise<RunMetrics> {
  const stack = await startStack();
  try {
    setSecurityMode(stack.env.deps, 'account', 'api');
    const client = await connectedClient(stack, await stack.newSigner());
    const sides = sidesOf(stack);
    const t1 = { direct: tally(), tunnel: tally() };
    const t2 = { direct: tally(), tunnel: tally() };
    const slices = ctx.size(4, 2);
    for (let s = 0; s < slices; s++) {
      for (const side of s % 2 ? [...sides].reverse() : sides) await whoamiSlice(ctx, client, side, t1[side.name], ctx.size(600, 300), TUNNEL_IN_FLIGHT);
      for (const side of s % 2 ? [...sides].reverse() : sides) await whoamiSlice(ctx, client, side, t2[side.name], ctx.size(250, 100), 1);
    }
    for (const [name, t] of Object.entries({ T1_direct: t1.direct, T1_tunnel: t1.tunnel, T2_direct: t2.direct, T2_tunnel: t2.tunnel })) {
      if (t.bad) ctx.log(`    ! ${name}: ${t.bad} errors or unexpected answers, e.g. ${t.samples.join(' | ')}`);
    }
    const rps = (t: Tally) => (t.sent / t.ms) * 1000;
    const p = (t: Tally, q: number) => percentile(t.latencies, q);
    ctx.log(`    T1 whoami ×${TUNNEL_IN_FLIGHT}: direct ${rps(t1.direct).toFixed(0)} req/s, tunnel ${rps(t1.tunnel).toFixed(0)} req/s (×${(rps(t1.tunnel) / rps(t1.direct)).toFixed(2)})`);
    ctx.log(`    T2 one call: direct p50 ${p(t2.direct, 50).toFixed(2)}/p99 ${p(t2.direct, 99).toFixed(2)} ms, tunnel p50 ${p(t2.tunnel, 50).toFixed(2)}/p99 ${p(t2.tunnel, 99).toFixed(2)} ms`);
    return {
      T1_direct: rps(t1.direct),
      T1_tunnel: rps(t1.tunnel),
      T1_ratio: rps(t1.tunnel) / rps(t1.direct),
      T1_errors: t1.direct.bad + t1.tunnel.bad,
      T2_direct_p50: p(t2.direct, 50),
      T2_direct_p99: p(t2.direct, 99),
      T2_tunnel_p50: p(t2.tunnel, 50),
      T2_tunnel_p99: p(t2.tunnel, 99),
      T2_added_p50: p(t2.tunnel, 50) - p(t2.direct, 50),
      T2_added_p99: p(t2.tunnel, 99) - p(t2.direct, 99),
      T2_errors: t2.direct.bad + t2.tunnel.bad,
    };
  } finally {
    await stack.close();
  }
}

/**
 * One T3 round: a freshly approved client opens the streams on `side`, over several sessions (a
 * client session holds at most MAX_SESSION_STREAMS_PER_CLIENT_SESSION); the owner revokes it.
 */
async function revokeRound(ctx: BenchContext, stack: Stack, side: Side): Promise<{ latencies: number[]; missing: number }> {
  const signer = await stack.newSigner();
  requestClient(stack.env.deps, { clientProofKeyThumbprint: signer.thumbprint, accountId: 'owner' });
  approveClient(stack.env.deps, signer.thumbprint, 'api');
  const headers: Record<string, string>[] = [];
  while (headers.length < SSE_STREAMS) {
    const session = await connectedClient(stack, signer);
    headers.push(...(await proofHeaders(session, side, 'client.session', Math.min(MAX_SESSION_STREAMS_PER_CLIENT_SESSION, SSE_STREAMS - headers.length))));
  }
  const path = `${new URL(side.base).pathname.replace(/\/$/, '')}/trpc/client.session`;
  await ctx.worker.call('sseOpen', { host: side.host, port: side.port, path, headers, n: SSE_STREAMS, readyMarker: '"active"' });
  const env = new URL(stack.env.publicUrl);
  try {
    const round = await ctx.worker.call('sseRound', {
      markers: ['"status":"ended"'],
      // The owner's revoke goes to the env's own port either way: owner calls never cross the relay.
      fire: {
        host: env.hostname,
        port: Number(env.port),
        path: '/trpc/connect.clients.revoke',
        headers: { authorization: `Bearer ${stack.env.adminToken}`, 'x-gatehouse-actor': 'api' },
        body: JSON.stringify({ clientProofKeyThumbprint: signer.thumbprint }),
      },
      timeoutMs: 5_000,
    });
    if (round.status !== 200) throw new Error(`revoke answered HTTP ${round.status}`);
    return { latencies: round.latencies, missing: round.missing };
  } finally {
    await ctx.worker.call('sseClose');
  }
}

/** T3: revoke → `ended` on 100 `client.session` streams, direct and through the tunnel, rounds alternating. */
export async function tunnelSseRun(ctx: BenchContext): Promise<RunMetrics> {
  const stack = await startStack();
  try {
    setSecurityMode(stack.env.deps, 'client-approval', 'api');
    const sides = sidesOf(stack);
    const got = { direct: { latencies: [] as number[], missing: 0 }, tunnel: { latencies: [] as number[], missing: 0 } };
    const rounds = ctx.size(10, 3);
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 ? [...sides].reverse() : sides) {
        const round = await revokeRound(ctx, stack, side);
        got[side.name].latencies.push(...round.latencies);
        got[side.name].missing += round.missing;
        await sleep(10);
      }
    }
    const p = (side: Side['name'], q: number) => percentile(got[side].latencies, q);
    ctx.log(`    T3 revoke → ended ×${SSE_STREAMS}: direct p50 ${p('direct', 50).toFixed(2)}/p99 ${p('direct', 99).toFixed(2)} ms, tunnel p50 ${p('tunnel', 50).toFixed(2)}/p99 ${p('tunnel', 99).toFixed(2)} ms`);
    return {
      T3_direct_p50: p('direct', 50),
      T3_direct_p99: p('direct', 99),
      T3_tunnel_p50: p('tunnel', 50),
      T3_tunnel_p99: p('tunnel', 99),
      T3_ratio: p('tunnel', 99) / p('direct', 99),
      T3_missing: got.direct.missing + got.tunnel.missing,
    };
  } finally {
    await ctx.worker.call('sseClose').catch(() => undefined);
    await stack.close();
  }
}

/** T4: the relay stops and starts again on its port and data dir; until it holds the tunnel again. */
export async function tunnelRestartRun(ctx: BenchContext): Promise<RunMetrics> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-t4-'));
  const stack = await startStack({ relay: { dataDir } });
  const port = Number(new URL(stack.relay.publicUrl).port);
  const outages: number[] = [];
  const afterListening: number[] = [];
  const steps: number[] = [];
  let offlineSeen = 0;
  const off = stack.env.tunnel!.onStatus((s) => {
    if (s.state === 'offline') offlineSeen++;
  });
  try {
    const restarts = ctx.size(20, 5);
    for (let i = 0; i < restarts; i++) {
      offlineSeen = 0;
      const started = nowMs();
      await stack.relay.close();
      stack.relay = await startRelay({ dataDir, port, devIssuer: true });
      const listening = nowMs();
      await Promise.race([waitForTunnel(stack), sleep(BACKOFF_MAX_MS + 10_000).then(() => Promise.reject(new Error('the tunnel did not come back')))]);
      const back = nowMs();
      outages.push(back - started);
      afterListening.push(back - listening);
      // The step the agent's last wait was drawn from: base × 2^(retries before it), capped.
      steps.push(Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, offlineSeen - 1)));
      await sleep(50);
    }
    await waitUntil(() => stack.env.tunnel!.status().state === 'connected', 'the agent to report connected');
    ctx.log(`    T4 relay restart → tunnel back: p50 ${percentile(outages, 50).toFixed(0)} ms, p95 ${percentile(outages, 95).toFixed(0)} ms (after listening p95 ${percentile(afterListening, 95).toFixed(0)} ms; steps ${[...new Set(steps)].join('/')} ms) over ${restarts}`);
    return {
      T4_p50: percentile(outages, 50),
      T4_p95: percentile(outages, 95),
      T4_max: Math.max(...outages),
      T4_listening_p95: percentile(afterListening, 95),
      T4_step_p95: percentile(steps, 95),
      T4_over: outages.filter((o, i) => o > T4_EXTRA_MS + steps[i]!).length,
      T4_restarts: restarts,
    };
  } finally {
    off();
    await stack.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const tunnelScenarios = [
  { items: ['T1', 'T2'], name: 'tunnel-calls', run: tunnelCallsRun },
  { items: ['T3'], name: 'tunnel-sse', run: tunnelSseRun },
  { items: ['T4'], name: 'tunnel-restart', run: tunnelRestartRun },
];

// P5: approve → `connectClientUpserted` delivered to N open `access.events` SSE subscribers
// (N = 1, 10, 100), against a raw node:http SSE fan-out to the same N. Subscribers live in the
// worker process; the worker fires the trigger (the approve mutation, or the raw POST) and times
// each subscriber's receipt on its own clock. Heap per subscriber is measured in this process,
// where the servers run.
import { requestClient } from '../../server/env/connect/client-requests.service';
import { createLoginCode, OWNER_COOKIE, redeemLoginCode } from '../../server/env/owner/owner-auth.service';
import { MAX_SUBSCRIPTIONS_PER_SESSION } from '../../server/env/trpc/access.router';
import { startStack } from '../../server/testing/stack';
import { fullGc, type BenchContext, type RunMetrics } from '../lib/context';
import { randomThumbprint } from '../lib/mint-requests';
import { startRawSseServer } from '../lib/raw-sse';
import { percentile, sleep, waitUntil } from '../lib/stats';

export const SUBSCRIBER_COUNTS = [1, 10, 100] as const;
const HOST = '127.0.0.1';

function heapNow(): number {
  fullGc();
  return process.memoryUsage().heapUsed;
}

/** A payload the size of a real `connectClientUpserted` event. */
function rawEvent(thumbprint: string, revision: number) {
  const at = new Date().toISOString();
  return {
    revision,
    type: 'connectClientUpserted',
    payload: {
      clientProofKeyThumbprint: thumbprint,
      accountId: 'owner',
      deviceId: null,
      status: 'approved',
      client: { label: null, deviceType: 'unknown', os: null },
      verificationCode: 'ABCD-EFGH',
      firstRequestedAt: at,
      requestedAt: at,
      requestCount: 0,
      updatedAt: at,
      approvedAt: at,
      rejectedAt: null,
      lastSeenAt: null,
    name: null,
    approvalExpiresAt: null,
    approvalExpiredAt: null,
    approver: false,
    },
  };
}

export async function eventsRun(ctx: BenchContext): Promise<RunMetrics> {
  const rounds = ctx.size(40, 10);
  const out: RunMetrics = {};
  const stack = await startStack();
  const raw = await startRawSseServer();
  const env = new URL(stack.env.publicUrl);
  try {
    // Owner sessions (cookies), so N = 100 stays under the per-session stream limit.
    const cookies = Array.from({ length: Math.ceil(100 / MAX_SUBSCRIPTIONS_PER_SESSION) + 1 }, () => {
      const { token } = redeemLoginCode(stack.env.deps, createLoginCode(stack.env.deps).code);
      return { cookie: `${OWNER_COOKIE}=${token}` };
    });
    const subscriptionPath = `/trpc/access.events?input=${encodeURIComponent('{}')}`;
    const busListeners = stack.env.deps.bus.listenerCount();

    for (const n of SUBSCRIBER_COUNTS) {
      // Gatehouse: pending clients to approve, one per round, made before the streams open.
      const thumbprints = Array.from({ length: rounds }, randomThumbprint);
      for (const t of thumbprints) requestClient(stack.env.deps, { clientProofKeyThumbprint: t, accountId: 'owner' });
      const envHeap0 = heapNow();
      await ctx.worker.call('sseOpen', { host: HOST, port: Number(env.port), path: subscriptionPath, headers: cookies, n, readyMarker: '"snapshot"' });
      const envHeapPer = (heapNow() - envHeap0) / n;
      const envLatencies: number[] = [];
      let envMissing = 0;
      for (const t of thumbprints) {
        const round = await ctx.worker.call('sseRound', {
          markers: [t, '"status":"approved"'],
          fire: {
            host: HOST,
            port: Number(env.port),
            path: '/trpc/connect.clients.approve',
            headers: { authorization: `Bearer ${stack.env.adminToken}`, 'x-gatehouse-actor': 'api' },
            body: JSON.stringify({ clientProofKeyThumbprint: t }),
          },
          timeoutMs: 5_000,
        });
        if (round.status !== 200) throw new Error(`approve answered HTTP ${round.status}`);
        envLatencies.push(...round.latencies);
        envMissing += round.missing;
        await sleep(10);
      }
      await ctx.worker.call('sseClose');
      // The server side of the closed streams is gone before the next heap reading.
      await waitUntil(() => stack.env.deps.bus.listenerCount() === busListeners, 'the closed streams to be cleaned up', 10_000, 5);

      // Raw fan-out at the same N.
      const rawHeap0 = heapNow();
      await ctx.worker.call('sseOpen', { host: HOST, port: raw.port, path: '/events', headers: [{}], n, readyMarker: '"hello"' });
      const rawHeapPer = (heapNow() - rawHeap0) / n;
      const rawLatencies: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t = randomThumbprint();
        const round = await ctx.worker.call('sseRound', {
          markers: [t],
          fire: { host: HOST, port: raw.port, path: '/fire', headers: {}, body: JSON.stringify(rawEvent(t, r)) },
          timeoutMs: 5_000,
        });
        rawLatencies.push(...round.latencies);
        await sleep(10);
      }
      await ctx.worker.call('sseClose');
      await waitUntil(() => raw.subscribers() === 0, 'the raw streams to close', 10_000, 5);

      const p = (xs: number[], q: number) => percentile(xs, q);
      Object.assign(out, {
        [`N${n}_p50`]: p(envLatencies, 50),
        [`N${n}_p99`]: p(envLatencies, 99),
        [`N${n}_raw_p50`]: p(rawLatencies, 50),
        [`N${n}_raw_p99`]: p(rawLatencies, 99),
        [`N${n}_ratio`]: p(envLatencies, 99) / p(rawLatencies, 99),
        [`N${n}_heapKB`]: envHeapPer / 1024,
        [`N${n}_raw_heapKB`]: rawHeapPer / 1024,
        [`N${n}_missing`]: envMissing,
      });
      ctx.log(
        `    N=${n}: p50 ${p(envLatencies, 50).toFixed(2)} ms, p99 ${p(envLatencies, 99).toFixed(2)} ms; raw p50 ${p(rawLatencies, 50).toFixed(2)}, p99 ${p(rawLatencies, 99).toFixed(2)} ms; heap ${(envHeapPer / 1024).toFixed(1)} KB/subscriber (raw ${(rawHeapPer / 1024).toFixed(1)})${envMissing ? `; ${envMissing} missed` : ''}`,
      );
    }
    return out;
  } finally {
    await ctx.worker.call('sseClose').catch(() => undefined);
    await raw.close();
    await stack.close();
  }
}

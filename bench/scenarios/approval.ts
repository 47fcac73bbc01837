// P6: approve → a client waiting through the relay gets in. The client (worker process) connects
// with wait; once its held request is parked on the environment, the worker sends the owner's
// approve mutation, and the latency runs on the worker's clock from that send until the client
// holds a session (credential redeemed).
import { setSecurityMode } from '../../server/env/connect/security-mode.service';
import { startStack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { percentile, sleep, waitUntil } from '../lib/stats';

export async function approvalRun(ctx: BenchContext): Promise<RunMetrics> {
  const rounds = ctx.size(20, 6);
  const stack = await startStack();
  const env = new URL(stack.env.publicUrl);
  const latencies: number[] = [];
  try {
    setSecurityMode(stack.env.deps, 'client-approval', 'api');
    for (let r = 0; r < rounds; r++) {
      const tag = `p6-${r}`;
      let thumbprint: string | null = null;
      const off = ctx.worker.on('pending', (data) => {
        const d = data as { tag: string; thumbprint: string };
        if (d.tag === tag) thumbprint = d.thumbprint;
      });
      const connected = ctx.worker.call('waitingConnect', { relayUrl: stack.relay.publicUrl, environmentId: stack.env.environmentId, idToken: await stack.idToken(), tag }, 60_000);
      try {
        await waitUntil(() => thumbprint !== null, 'the client to be pending', 15_000);
        // The first ask answers at once; the second is the one held open until a decision.
        await waitUntil(() => stack.env.mint.waiting() > 0, 'the held request', 15_000);
        await sleep(5);
        const approve = await ctx.worker.call('post', {
          host: env.hostname,
          port: Number(env.port),
          path: '/trpc/connect.clients.approve',
          headers: { authorization: `Bearer ${stack.env.adminToken}`, 'x-gatehouse-actor': 'api' },
          body: JSON.stringify({ clientProofKeyThumbprint: thumbprint }),
        });
        if (approve.status !== 200) throw new Error(`approve answered HTTP ${approve.status}`);
        const { connectedAt } = await connected;
        latencies.push(connectedAt - approve.startedAt);
      } finally {
        off();
        await connected.catch(() => undefined);
      }
    }
    ctx.log(`    approve → connected: p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms (${rounds} clients)`);
    return { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: Math.max(...latencies) };
  } finally {
    await stack.close();
  }
}

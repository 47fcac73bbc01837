// End to end, as a device does it: account token → relay token exchange → environments.connect →
// relay asks the environment to mint → relay verifies the answer → client redeems the credential
// at the environment → client.whoami. The client runs in the worker process.
import { startStack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { percentile } from '../lib/stats';

export async function e2eRun(ctx: BenchContext): Promise<RunMetrics> {
  const count = ctx.size(40, 12);
  const stack = await startStack();
  try {
    const args = { relayUrl: stack.relay.publicUrl, environmentId: stack.env.environmentId, idToken: await stack.idToken() };
    await ctx.worker.call('e2e', { ...args, count: 3 }); // warm-up
    const res = await ctx.worker.call('e2e', { ...args, count });
    if (res.errors) ctx.log(`    ! ${res.errors} failed connects (${res.sample})`);
    const p50 = percentile(res.latencies, 50);
    const p95 = percentile(res.latencies, 95);
    ctx.log(`    connect → whoami: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (${count} connects)`);
    return { p50, p95, errors: res.errors };
  } finally {
    await stack.close();
  }
}

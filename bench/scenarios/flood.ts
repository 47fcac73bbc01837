// P8: a flood of new keys. One worker keeps 1,000 mint requests in flight, each from a distinct
// never-seen key (client-approval mode: each is recorded as pending, or refused by the new-client
// rate limit), while a second worker runs one approved client through the relay 10 times a second.
// Compared with the same client on an idle environment: its p99, errors on both sides, pending
// rows (≤ the cap), and RSS growth of the server process.
import { requestClient } from '../../server/env/connect/client-requests.service';
import { approveClient } from '../../server/env/connect/client-decisions.service';
import { PENDING_CAP } from '../../server/env/connect/pending-bounds';
import { setSecurityMode } from '../../server/env/connect/security-mode.service';
import { startStack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { MINT_PATH, randomThumbprint, signedBodies } from '../lib/mint-requests';
import { percentile, sleep } from '../lib/stats';
import { startWorker } from '../lib/worker-handle';

export const FLOOD_IN_FLIGHT = 1000;
const CONNECTS_PER_SECOND = 10;

export async function floodRun(ctx: BenchContext): Promise<RunMetrics> {
  const phaseMs = ctx.size(10_000, 4_000);
  const floodBodies = ctx.size(10_000, 4_000);
  const stack = await startStack();
  const client = await startWorker(); // the approved client, never sharing a process with the flood
  const env = new URL(stack.env.publicUrl);
  const deps = stack.env.deps;
  try {
    setSecurityMode(deps, 'client-approval', 'api');
    const { thumbprint } = await client.call('newSigner');
    requestClient(deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
    approveClient(deps, thumbprint, 'api');
    const paced = async (durationMs: number) =>
      client.call('paced', {
        relayUrl: stack.relay.publicUrl,
        environmentId: stack.env.environmentId,
        idToken: await stack.idToken(),
        thumbprint,
        intervalMs: 1000 / CONNECTS_PER_SECOND,
        durationMs,
        maxConnects: Math.ceil((durationMs / 1000) * CONNECTS_PER_SECOND) + 1,
        whoami: false,
      });

    await paced(1_000); // warm-up
    const idle = await paced(phaseMs);

    // Pre-made: one distinct key per request, signed before the clock starts.
    const bodies = await signedBodies(stack, floodBodies, { thumbprint: randomThumbprint });
    const pendingRows = () =>
      (deps.db.$client.prepare(`SELECT count(*) AS n FROM connect_clients WHERE status = 'pending' AND revoked_at IS NULL`).get() as { n: number }).n;
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    let rowsMax = pendingRows();
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; sampling && i < 10_000; i++) {
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
        rowsMax = Math.max(rowsMax, pendingRows());
        await sleep(100);
      }
    })();

    const flood = ctx.worker.call('load', {
      host: env.hostname,
      port: Number(env.port),
      path: MINT_PATH,
      bodies,
      concurrency: FLOOD_IN_FLIGHT,
      maxDurationMs: phaseMs + 1_000,
      expectStatus: [200, 200],
      // A new key is recorded as pending, or refused by the new-client rate limit (S44): both are
      // right answers to a flood; anything else (5xx, a reset, a timeout, a credential) is an error.
      accept: [
        { status: 200, contains: '"status":"pending_approval"' },
        { status: 429, contains: '"reason":"rate_limited"' },
      ],
      requestTimeoutMs: 60_000,
    });
    await sleep(500); // the flood is in full swing before the approved client starts
    const during = await paced(phaseMs);
    const floodResult = await flood;
    sampling = false;
    await sampler;
    rowsMax = Math.max(rowsMax, pendingRows());

    const idleP99 = percentile(idle.latencies, 99);
    const floodP99 = percentile(during.latencies, 99);
    const errors = floodResult.errors + floodResult.unexpected + during.errors + idle.errors;
    if (errors) ctx.log(`    ! errors: flood ${floodResult.errors} network, ${floodResult.unexpected} unexpected (${floodResult.sample}); client ${during.errors} (${during.sample})`);
    const rateLimited = floodResult.statuses['429'] ?? 0;
    ctx.log(
      `    approved client p99 idle ${idleP99.toFixed(1)} ms, under flood ${floodP99.toFixed(1)} ms (×${(floodP99 / idleP99).toFixed(2)}, ${during.latencies.length} connects); flood ${floodResult.sent} requests at ${floodResult.rps.toFixed(0)}/s (${floodResult.statuses['200'] ?? 0} pending, ${rateLimited} rate-limited); pending rows max ${rowsMax}; RSS +${((rssMax - rss0) / 1e6).toFixed(1)} MB`,
    );
    return {
      errors,
      idle_p50: percentile(idle.latencies, 50),
      idle_p99: idleP99,
      flood_p50: percentile(during.latencies, 50),
      flood_p99: floodP99,
      ratio: floodP99 / idleP99,
      connects: during.latencies.length,
      flood_sent: floodResult.sent,
      flood_rps: floodResult.rps,
      flood_rate_limited: rateLimited,
      pending_rows_max: rowsMax,
      pending_cap: PENDING_CAP,
      rss_growth_mb: (rssMax - rss0) / 1e6,
    };
  } finally {
    await client.close();
    await stack.close();
  }
}

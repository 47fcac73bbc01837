// P11 (issue 20 item 6): the owner console with 10,000 devices, in Chromium. Time to first render
// (navigation to the first rows on screen: the page opens access.events with a summary and loads
// its first page through connect.clients.list) and time to filter (a search typed → the list shows
// only the matches, searched by the server).
//
// The devices are seeded through the API, as they would arrive: each asks with a mint request the
// relay signed (POST /api/connect/mint-credential, the environment's real verification and
// storage), and the owner decides through tRPC. Pending devices are capped at 100, so they ask in
// rounds of 100, each decided (mostly approved, one in ten rejected) before the next asks; the
// last 100 stay pending. The new-client rate limits (S44) are raised for this stack only: at 20
// new devices a second, seeding would take over eight minutes. Needs the built web app
// (`npm run build`).
import { chromium } from '@playwright/test';
import { PENDING_CAP } from '../../server/env/connect/pending-bounds';
import { startStack, type Stack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { MINT_PATH, randomThumbprint, signedBodies } from '../lib/mint-requests';
import { median } from '../lib/stats';
import { LIST_CLIENTS } from './list';

const UNLIMITED = { perSecond: 1e6, burst: 1e6 };

/** `count` devices through the API; the last PENDING_CAP stay pending. Returns the seconds it took. */
async function seedThroughApi(ctx: BenchContext, stack: Stack, count: number): Promise<number> {
  const started = performance.now();
  const url = new URL(stack.env.publicUrl);
  for (let first = 0; first < count; first += PENDING_CAP) {
    const round = Array.from({ length: Math.min(PENDING_CAP, count - first) }, (_, k) => ({ i: first + k, thumbprint: randomThumbprint() }));
    const bodies = await signedBodies(stack, round.length, {
      thumbprint: (k) => round[k]!.thumbprint,
      deviceId: (k) => `device-${first + k}`,
      client: (k) => ({ label: `Laptop ${first + k}`, os: (first + k) % 2 ? 'macOS 15' : 'Linux', deviceType: (first + k) % 3 ? 'desktop' : 'mobile' }),
    });
    const asked = await ctx.worker.call('load', {
      host: url.hostname,
      port: Number(url.port),
      path: MINT_PATH,
      bodies,
      concurrency: 16,
      maxDurationMs: 60_000,
      expectStatus: [200, 200],
      expectContains: '"status":"pending_approval"',
    });
    if (asked.sent !== round.length || asked.errors || asked.unexpected) throw new Error(`seeding: ${asked.errors + asked.unexpected} of ${round.length} asks failed, e.g. ${asked.sample}`);
    if (first + PENDING_CAP >= count) break; // the last round stays pending
    await Promise.all(
      round.map(({ i, thumbprint }) =>
        i % 10 === 0 ? stack.owner.connect.clients.reject.mutate({ clientProofKeyThumbprint: thumbprint }) : stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: thumbprint }),
      ),
    );
    if ((first + PENDING_CAP) % 2000 === 0) ctx.log(`    seeded ${first + PENDING_CAP} of ${count} devices through the API (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  const { counts } = await stack.owner.connect.clients.list.query({ limit: 1 });
  if (counts.pending + counts.approved + counts.rejected !== count || counts.pending !== Math.min(PENDING_CAP, count)) throw new Error(`seeding: the environment holds ${JSON.stringify(counts)}, not ${count} devices`);
  return (performance.now() - started) / 1000;
}

const CHROMIUM = process.env.GATEHOUSE_CHROMIUM ?? '/usr/bin/chromium';

export async function consoleRun(ctx: BenchContext): Promise<RunMetrics> {
  const repeats = ctx.size(7, 3); // one run per bench (see bench/run.ts), so more repeats inside it
  const stack = await startStack({ env: { newClientRateLimit: UNLIMITED, newClientRateLimitPerSource: UNLIMITED } });
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const seedSeconds = await seedThroughApi(ctx, stack, LIST_CLIENTS);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(stack.env.loginUrl());
    await page.waitForURL(/\/settings\/connections$/);
    const rows = page.locator('ul.clients > li');
    const first: number[] = [];
    const filter: number[] = [];
    for (let i = 0; i < repeats + 1; i++) {
      const started = performance.now();
      await page.reload();
      await rows.first().waitFor();
      if (i > 0) first.push(performance.now() - started); // one warm-up
      const search = page.getByRole('searchbox', { name: 'Search devices' });
      const t0 = performance.now();
      await search.fill('Laptop 9999');
      await page.waitForFunction(() => document.querySelectorAll('ul.clients > li').length === 1);
      if (i > 0) filter.push(performance.now() - t0);
      await search.fill('');
      await page.waitForFunction(() => document.querySelectorAll('ul.clients > li').length > 1);
    }
    const shown = await rows.count();
    if (shown === 0 || shown > 100) throw new Error(`the page shows ${shown} rows of ${LIST_CLIENTS}, not one page`);
    const firstMs = median(first);
    const filterMs = median(filter);
    ctx.log(`    ${LIST_CLIENTS} devices (seeded through the API in ${seedSeconds.toFixed(0)} s): first render ${firstMs.toFixed(0)} ms, filter ${filterMs.toFixed(0)} ms (${shown} rows on the page)`);
    await context.close();
    return { first_ms: firstMs, filter_ms: filterMs, rows_shown: shown, seed_s: seedSeconds };
  } finally {
    await browser.close();
    await stack.close();
  }
}

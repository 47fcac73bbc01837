// P11 (issue 20 item 6): the owner console with 10,000 devices, in Chromium. Time to first render
// (navigation to the first rows on screen: the page opens access.events with a summary and loads
// its first page through connect.clients.list) and time to filter (a search typed → the list shows
// only the matches, searched by the server). Seeded like P7: 10,000 active rows straight into the
// table, 100 of them pending (through the API, S44's new-client limit would take hours). Needs the
// built web app (`npm run build`).
import { chromium } from '@playwright/test';
import { startStack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { median } from '../lib/stats';
import { LIST_CLIENTS, seedClients } from './list';

const CHROMIUM = process.env.GATEHOUSE_CHROMIUM ?? '/usr/bin/chromium';

export async function consoleRun(ctx: BenchContext): Promise<RunMetrics> {
  const repeats = ctx.size(5, 2);
  const stack = await startStack();
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    seedClients(stack.env.deps.db.$client, LIST_CLIENTS);
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
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
    ctx.log(`    ${LIST_CLIENTS} devices: first render ${firstMs.toFixed(0)} ms, filter ${filterMs.toFixed(0)} ms (${shown} rows on the page)`);
    await context.close();
    return { first_ms: firstMs, filter_ms: filterMs, rows_shown: shown };
  } finally {
    await browser.close();
    await stack.close();
  }
}

// e2e: Debian's Chromium drives the real relay and environment (started per test by e2e/fixtures.ts)
// and the built web app in dist/web; the CLI steps run the compiled bin (`npm run test:e2e` builds both first).
import { defineConfig } from '@playwright/test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const chromium = process.env.GATEHOUSE_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  throw new Error(`Chromium was not found at ${chromium}. The e2e suite runs Debian's Chromium (no browser downloads): apt-get install -y chromium`);
}
if (!existsSync(join(import.meta.dirname, 'dist/web/index.html')) || !existsSync(join(import.meta.dirname, 'dist/server/main.js'))) {
  throw new Error('The web app or the server is not built: run `npm run build` (or `npm run test:e2e`, which builds them first).');
}

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  // Two cores, real servers per test: one worker keeps timings honest.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromium,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
});

// Playwright fixtures: each test gets a real relay (with the dev issuer) and a real environment on
// free ports with a fresh data directory, linked for the dev account "owner", and stopped after.
// `relayWithPages` tests instead get a relay that serves environments' device pages on
// `{label}.localhost:{port}`, and environments it reaches only through their tunnels.
import { test as base, devices, expect, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from '@playwright/test';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createOwnerClient, type OwnerClient } from '../server/env/owner/owner-client';
import { writeRuntimeInfo } from '../server/cli/runtime-file';
import { startEnvironment, type EnvRuntime } from '../server/env/env-app';
import { startRelay, type RelayRuntime } from '../server/relay/relay-app';
import { connectToEnvironment } from '../shared/client/connect';
import { ConnectionBlockedError } from '../shared/client/errors';
import { createDpopSigner, generateDpopKeyPair } from '../shared/dpop';
import { verificationCode } from '../shared/verification-code';
import { expectNoAxeViolations } from './visual';

export { expect };

export interface Gatehouse {
  env: EnvRuntime;
  relay: RelayRuntime;
  dataDir: string;
  /** The owner's tRPC API with the admin token (audited as "api"). */
  api: OwnerClient;
  /** Runs `gatehouse <args> --data-dir <this env>`: owner commands reach the running env. */
  cli(...args: string[]): Promise<string>;
  /** A client that asks once from Node through the real connect flow (no wait): a pending row. */
  askFromNode(client: { label: string; os?: string; deviceType?: 'desktop' | 'mobile' | 'tablet' }): Promise<{ thumbprint: string; code: string }>;
  /** Makes the stored security mode unreadable, as a damaged database would. */
  corruptSecurityMode(): void;
  /** Cuts every open connection to the environment (its event streams too); it keeps running. */
  dropConnections(): void;
  /** Every `lastEventId` an `access.events` subscriber resumed with, as the server received it. */
  resumedEventIds: string[];
}

export interface DevicePage {
  page: Page;
  /** The verification code the page shows for its key. */
  code: string;
}

/** One environment reached only through its tunnel, its device page on its own origin at the relay. */
export interface TunnelledEnvironment {
  env: EnvRuntime;
  api: OwnerClient;
  /** `http://{label}.localhost:{relay port}`: where the relay serves this environment's device page. */
  deviceOrigin: string;
}

export interface RelayWithPages {
  /** A relay with the dev issuer that serves environment pages on `{label}.localhost:{port}`. */
  relay: RelayRuntime;
  /** Starts one more environment, links it for "owner" and waits until its tunnel is up. */
  addEnvironment(): Promise<TunnelledEnvironment>;
}

interface Fixtures {
  gatehouse: Gatehouse;
  relayWithPages: RelayWithPages;
  consoleAllowlist: RegExp[];
  /** Opens a page in a fresh browser context (its own cookies and IndexedDB) based at the environment. */
  openPage(options?: BrowserContextOptions): Promise<Page>;
  /** The same for `relayWithPages` tests: no base URL, and no `gatehouse` stack started. */
  openRelayPage(options?: BrowserContextOptions): Promise<Page>;
  /** The owner, signed in through a one-time login link, on Settings → Connections. */
  owner: Page;
  /** The /device page in its own context; `phone` emulates a touch phone. */
  openDevice(options?: { phone?: boolean }): Promise<DevicePage>;
  /** Console errors that a test expects (e.g. the 404 of a refused mutation). */
  allowConsole(pattern: RegExp): void;
  /** Saves a screenshot under test-results/ (and one at 390 px wide, unless the page is phone-sized already), each checked with axe, and attaches them to the report. */
  shot(page: Page, name: string): Promise<void>;
}

const { defaultBrowserType: _chromium, ...phoneContext } = devices['Pixel 7'];
const repoRoot = resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const screenshotDir = join(repoRoot, 'test-results', 'screenshots');
/** A viewport this narrow is a phone already: its screenshot is the phone one. */
const PHONE_WIDTH_MAX = 480;

async function startGatehouse(): Promise<{ gatehouse: Gatehouse; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  const relay = await startRelay({ dataDir: join(dataDir, 'relay'), port: 0, devIssuer: true });
  const env = await startEnvironment({ dataDir, port: 0, connectOrigins: [relay.publicUrl] });
  relay.allowOrigin(env.publicUrl);
  await env.link(relay.publicUrl, await relay.devIssuer!.issueIdToken('owner'));
  // What `gatehouse start` records, so CLI owner commands go through this running environment.
  writeRuntimeInfo(dataDir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId, relayUrl: relay.publicUrl });
  // The browser adds Last-Event-ID below what page.route sees, so the server is where to look.
  const resumedEventIds: string[] = [];
  const parseEventId = env.deps.bus.parseEventId.bind(env.deps.bus);
  env.deps.bus.parseEventId = (id) => {
    if (id) resumedEventIds.push(id);
    return parseEventId(id);
  };
  const gatehouse: Gatehouse = {
    resumedEventIds,
    env,
    relay,
    dataDir,
    api: createOwnerClient(env.publicUrl, env.adminToken, 'api'),
    async cli(...args) {
      // Options go before a `--` (after it every word is an argument, e.g. a thumbprint starting with '-').
      const end = args.includes('--') ? args.indexOf('--') : args.length;
      const argv = [...args.slice(0, end), '--data-dir', dataDir, ...args.slice(end)];
      const { stdout } = await run(process.execPath, [join(repoRoot, 'bin/gatehouse.js'), ...argv], { cwd: repoRoot, timeout: 20_000 });
      return stdout;
    },
    async askFromNode(client) {
      const signer = await createDpopSigner(await generateDpopKeyPair(false));
      const asked = connectToEnvironment({
        relayUrl: relay.publicUrl,
        environmentId: env.environmentId,
        signer,
        getIdToken: () => relay.devIssuer!.issueIdToken('owner'),
        client: { deviceType: 'desktop', os: 'Linux', ...client },
        wait: false,
      });
      await expect(asked).rejects.toBeInstanceOf(ConnectionBlockedError);
      return { thumbprint: signer.thumbprint, code: await verificationCode(signer.thumbprint) };
    },
    corruptSecurityMode() {
      const sqlite = env.deps.db.$client;
      sqlite.pragma('ignore_check_constraints = ON');
      sqlite
        .prepare("INSERT INTO connect_settings (id, security_mode, updated_at) VALUES (1, 'weird', ?) ON CONFLICT(id) DO UPDATE SET security_mode = 'weird'")
        .run(new Date().toISOString());
      sqlite.pragma('ignore_check_constraints = OFF');
    },
    dropConnections() {
      env.server.closeAllConnections();
    },
  };
  return {
    gatehouse,
    async stop() {
      await env.close();
      await relay.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startRelayWithPages(): Promise<{ relayWithPages: RelayWithPages; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-pages-'));
  const relay = await startRelay({ dataDir: join(dataDir, 'relay'), port: 0, devIssuer: true, environmentHostSuffix: 'localhost' });
  const envs: EnvRuntime[] = [];
  return {
    relayWithPages: {
      relay,
      async addEnvironment() {
        // Neither relay.allowOrigin nor connectOrigins: the relay allows page origins by its suffix,
        // and linking adds the relay's origin to the environment's CSP.
        const env = await startEnvironment({ dataDir: join(dataDir, `env-${envs.length}`), port: 0 });
        envs.push(env);
        await env.link(relay.publicUrl, await relay.devIssuer!.issueIdToken('owner'));
        // The environment dials out by itself once linked.
        await expect.poll(() => relay.deps.tunnels.has(env.environmentId)).toBe(true);
        return { env, api: createOwnerClient(env.publicUrl, env.adminToken, 'api'), deviceOrigin: relay.deviceOriginOf(env.environmentId)! };
      },
    },
    async stop() {
      for (const env of envs) await env.close();
      await relay.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Pages in fresh contexts whose console must stay clean. The fixture using it closes them in its own
 * teardown, before the servers it depends on stop (a cut event stream would log an error).
 */
function pageOpener(browser: Browser, allowed: RegExp[]) {
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  return {
    async open(options?: BrowserContextOptions): Promise<Page> {
      const context = await browser.newContext(options);
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() !== 'error' && message.type() !== 'warning') return;
        const text = `${message.type()}: ${message.text()} [${message.location().url}]`;
        if (!allowed.some((re) => re.test(text))) problems.push(`${page.url()} ${text}`);
      });
      page.on('pageerror', (error) => problems.push(`${page.url()} uncaught: ${error.message}`));
      return page;
    },
    async closeAll(): Promise<void> {
      for (const context of contexts) await context.close();
      // No console errors or warnings on any page (SPEC: "no console errors or warnings").
      expect(problems, 'console errors or warnings').toEqual([]);
    },
  };
}

export const test = base.extend<Fixtures>({
  // eslint-disable-next-line no-empty-pattern
  relayWithPages: async ({}, use) => {
    const { relayWithPages, stop } = await startRelayWithPages();
    try {
      await use(relayWithPages);
    } finally {
      await stop();
    }
  },

  // eslint-disable-next-line no-empty-pattern
  gatehouse: async ({}, use) => {
    const { gatehouse, stop } = await startGatehouse();
    try {
      await use(gatehouse);
    } finally {
      await stop();
    }
  },

  // eslint-disable-next-line no-empty-pattern
  consoleAllowlist: async ({}, use) => {
    await use([]);
  },

  allowConsole: async ({ consoleAllowlist }, use) => {
    await use((pattern) => void consoleAllowlist.push(pattern));
  },

  openPage: async ({ browser, gatehouse, consoleAllowlist }, use) => {
    const pages = pageOpener(browser, consoleAllowlist);
    await use((options) => pages.open({ baseURL: gatehouse.env.publicUrl, ...options }));
    await pages.closeAll();
  },

  // Depends on relayWithPages only so that the relay stops after these pages close.
  openRelayPage: async ({ browser, relayWithPages: _relay, consoleAllowlist }, use) => {
    const pages = pageOpener(browser, consoleAllowlist);
    await use((options) => pages.open(options));
    await pages.closeAll();
  },

  owner: async ({ openPage, gatehouse }, use) => {
    const page = await openPage();
    await page.goto(gatehouse.env.loginUrl());
    await expect(page).toHaveURL(/\/settings\/connections$/);
    await expect(page.getByRole('heading', { name: 'Connections', level: 1 })).toBeVisible();
    await use(page);
  },

  openDevice: async ({ openPage }, use) => {
    await use(async ({ phone = false } = {}) => {
      const page = await openPage(phone ? phoneContext : {});
      await page.goto('/device');
      const code = page.getByLabel(/^Verification code /);
      await expect(code).toHaveText(/^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);
      return { page, code: (await code.textContent())!.trim() };
    });
  },

  // eslint-disable-next-line no-empty-pattern
  shot: async ({}, use, testInfo) => {
    const save = async (page: Page, name: string) => {
      const body = await page.screenshot({ fullPage: true });
      // Attached to the report, and also kept in one folder for a quick look at every state.
      await testInfo.attach(name, { body, contentType: 'image/png' });
      mkdirSync(screenshotDir, { recursive: true });
      writeFileSync(join(screenshotDir, `${name}.png`), body);
      // Every state worth a screenshot, on every page (settings, /login, /device), passes axe (issue 17 item 10).
      await expectNoAxeViolations(page, name);
    };
    // Nothing may widen the page past a phone's screen (a long secret or URL once did).
    const fitsWidth = async (page: Page, name: string, width: number) =>
      expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name}: page width at ${width} px`).toBeLessThanOrEqual(width);
    await use(async (page, name) => {
      await save(page, name);
      const size = page.viewportSize();
      if (size && size.width <= PHONE_WIDTH_MAX) return fitsWidth(page, name, size.width);
      // Every state also at 390 px (issue 17: "every state at 1280 px and 390 px"), then back.
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        await save(page, `${name}-390`);
        await fitsWidth(page, name, 390);
      } finally {
        if (size) await page.setViewportSize(size);
      }
    });
  },
});

/**
 * Signs in at the embedded account issuer's login page as a person would: the device page went there
 * (Connect or Sign in) and comes back through the relay's sign-in callback once the form is sent.
 */
export async function signInAtProvider(page: Page, username = 'owner'): Promise<void> {
  await expect(page.getByRole('heading', { name: 'Sign in to Gatehouse (development)' })).toBeVisible();
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Back on /device once the page has taken the code from the address bar (an invite's fragment may stay).
  await expect(page).toHaveURL(/\/device(#(?!.*\bcode=).*)?$/);
}

/** A client row on the Connections page, found by the verification code it shows. */
export function clientRow(owner: Page, code: string) {
  return owner.getByRole('list', { name: 'Connect clients' }).getByRole('listitem').filter({ hasText: code });
}

// The /device page served by the relay on the environment's own origin (SPEC §11 "Browser pages
// through the relay"): `{label}.localhost:{relay port}`, with the environment reached only through its
// tunnel. The page calls the relay at its public URL and the environment at its routed endpoint.
import type { Page } from '@playwright/test';
import { expect, signInAtProvider, test, type TunnelledEnvironment } from './fixtures';

const CODE = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/;

/** Opens the device page on the environment's origin at the relay; returns the code it shows. */
async function openDeviceThroughRelay(page: Page, environment: TunnelledEnvironment, seen?: { csp?: string }): Promise<string> {
  const response = await page.goto(`${environment.deviceOrigin}/device`);
  if (seen) seen.csp = response?.headers()['content-security-policy'];
  await expect(page).toHaveURL(`${environment.deviceOrigin}/device`);
  await expect(page.getByRole('complementary', { name: 'This device' })).toContainText(environment.env.environmentId);
  const code = page.getByLabel(/^Verification code /);
  await expect(code).toHaveText(CODE);
  return (await code.textContent())!.trim();
}

/** The client key the connected page shows. */
async function connectedThumbprint(page: Page): Promise<string> {
  const status = page.getByRole('region', { name: 'Connection' });
  await expect(status.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  return (await status.getByRole('definition').filter({ has: page.locator('code.wrap') }).textContent())!.trim();
}

test('1a · account mode: the device page on the environment’s origin at the relay connects', async ({ relayWithPages, openRelayPage, shot }) => {
  const environment = await relayWithPages.addEnvironment();
  expect(new URL(environment.deviceOrigin).hostname).toMatch(/^[a-z2-7]{26}\.localhost$/);
  const page = await openRelayPage();
  const origins = new Set<string>();
  page.on('request', (request) => void origins.add(new URL(request.url()).origin));
  const seen: { csp?: string } = {};
  await openDeviceThroughRelay(page, environment, seen);
  await expect(page.getByRole('heading', { name: 'Not connected' })).toBeVisible();
  // The environment's own CSP, through the tunnel: it may call the relay it linked to, nothing else.
  expect(seen.csp).toContain(`connect-src 'self' ${relayWithPages.relay.publicUrl};`);

  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page);
  const thumbprint = await connectedThumbprint(page);
  await expect(page.getByRole('region', { name: 'Connection' })).toContainText(environment.env.environmentId);
  await expect(page.getByText('environment:use')).toBeVisible();
  await shot(page, 'device-through-relay-connected');

  // The page only ever spoke to its own origin and the relay (the environment's API at its routed
  // endpoint); never to the environment's own address.
  expect(thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect([...origins].sort()).toEqual([environment.deviceOrigin, relayWithPages.relay.publicUrl].sort());
});

test('1b · client-approval mode: the page shows its code and waits; the owner approves; it connects', async ({ relayWithPages, openRelayPage, shot }) => {
  const environment = await relayWithPages.addEnvironment();
  await environment.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const page = await openRelayPage();
  const code = await openDeviceThroughRelay(page, environment);

  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page);
  await expect(page.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  await shot(page, 'device-through-relay-waiting');

  // The owner's side: the pending row carries the same code the page shows.
  await expect.poll(async () => (await environment.api.connect.clients.list.query()).items.map((c) => [c.verificationCode, c.status])).toEqual([[code, 'pending']]);
  const [pending] = (await environment.api.connect.clients.list.query()).items;
  await environment.api.connect.clients.approve.mutate({ clientProofKeyThumbprint: pending!.clientProofKeyThumbprint });

  expect(await connectedThumbprint(page)).toBe(pending!.clientProofKeyThumbprint);
  await shot(page, 'device-through-relay-approved');
});

test('2 · two environments at one relay: each origin keeps its own device key', async ({ relayWithPages, openRelayPage }) => {
  const first = await relayWithPages.addEnvironment();
  const second = await relayWithPages.addEnvironment();
  expect(first.deviceOrigin).not.toBe(second.deviceOrigin);

  // One browser profile, two origins: origin storage keeps the keys apart.
  const page = await openRelayPage();
  const firstCode = await openDeviceThroughRelay(page, first);
  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page);
  const firstKey = await connectedThumbprint(page);

  // Another origin keeps its own tokens (session storage), but the provider remembers the person:
  // Connect goes there and straight back, without its login page.
  const secondCode = await openDeviceThroughRelay(page, second);
  await expect(page.getByRole('group', { name: 'Account' })).toContainText('Not signed in');
  await page.getByRole('button', { name: 'Connect' }).click();
  const secondKey = await connectedThumbprint(page);
  await expect(page.getByRole('group', { name: 'Account' })).toContainText('Signed in as owner');

  expect(secondCode).not.toBe(firstCode);
  expect(secondKey).not.toBe(firstKey);

  // Back on the first origin, its key is still its own.
  expect(await openDeviceThroughRelay(page, first)).toBe(firstCode);
});

test('3 · owner pages and owner endpoints are not served on the environment’s origin', async ({ relayWithPages, openRelayPage, allowConsole }) => {
  const environment = await relayWithPages.addEnvironment();
  allowConsole(/Failed to load resource: the server responded with a status of 404/);
  const page = await openRelayPage();
  for (const path of ['/settings/connections', '/login', '/login.js', '/healthz', '/trpc/connect.securityMode.get']) {
    const response = await page.goto(`${environment.deviceOrigin}${path}`);
    expect(response?.status(), path).toBe(404);
  }
  // The root leads to the device page, and the device page offers no owner link here.
  await page.goto(`${environment.deviceOrigin}/`);
  await expect(page).toHaveURL(`${environment.deviceOrigin}/device`);
  await expect(page.getByRole('heading', { name: 'This device', level: 1 })).toBeVisible();
  await expect(page.getByLabel(/^Verification code /)).toHaveText(/^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link')).toHaveText(['This device']);
  await expect(page.getByRole('link', { name: 'Gatehouse' })).toHaveAttribute('href', '/device');
});

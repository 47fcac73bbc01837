// The /device page's account sign-in (SPEC §15) in Chromium: authorization code + PKCE at the embedded
// OpenID provider, back through the relay's one callback, which hands code and state on only to a
// device page of this relay. Who is signed in is shown; Sign out forgets the tokens; a tampered
// `state` and a callback naming a foreign origin are refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvironment } from '../server/env/env-app';
import { startRelay } from '../server/relay/relay-app';
import { expect, signInAtProvider, test } from './fixtures';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

test('Sign in shows who is signed in, survives a reload, and Sign out forgets it (the provider asks again)', async ({ gatehouse, openDevice, shot, allowConsole }) => {
  allowConsole(/status of 403 \(Forbidden\) \[http:\/\/127\.0\.0\.1:\d+\/trpc\/environments\.connect\]/); // the refused account, below
  const device = await openDevice();
  const account = device.page.getByRole('group', { name: 'Account' });
  await expect(account).toContainText('Not signed in');

  const authorize: URL[] = [];
  device.page.on('request', (request) => void (request.url().includes('/dev-issuer/auth?') && authorize.push(new URL(request.url()))));
  await account.getByRole('button', { name: 'Sign in' }).click();
  await expect(device.page).toHaveURL(new RegExp(`^${gatehouse.relay.publicUrl}/dev-issuer/interaction/`));
  // A standard request: code flow, PKCE S256, a nonce, the relay's one callback, a state naming this page's origin.
  const asked = authorize[0]!.searchParams;
  expect(Object.fromEntries([...asked].filter(([k]) => !['state', 'nonce', 'code_challenge'].includes(k)))).toEqual({
    client_id: 'gatehouse',
    response_type: 'code',
    redirect_uri: `${gatehouse.relay.publicUrl}/sign-in/callback`,
    scope: 'openid profile',
    code_challenge_method: 'S256',
  });
  expect(asked.get('state')).toMatch(new RegExp(`^[A-Za-z0-9_-]{43}\\.${b64(gatehouse.env.publicUrl)}$`));
  expect(asked.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  await shot(device.page, 'device-sign-in-provider');

  await signInAtProvider(device.page, 'owner');
  // Back on the device page with nothing left in the address bar; signed in, not yet connected.
  expect(new URL(device.page.url()).hash).toBe('');
  await expect(account).toContainText(`Signed in as owner at ${new URL(gatehouse.relay.publicUrl).host}`);
  await expect(device.page.getByRole('heading', { name: 'Not connected' })).toBeVisible();
  await shot(device.page, 'device-signed-in');

  await device.page.reload();
  await expect(account).toContainText('Signed in as owner');
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await expect(device.page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();

  await account.getByRole('button', { name: 'Sign out' }).click();
  await expect(account).toContainText('Not signed in');
  await expect(device.page.getByRole('heading', { name: 'Not connected' })).toBeVisible();
  await device.page.reload();
  await expect(account).toContainText('Not signed in');

  // After Sign out the provider shows its login page again (prompt=login), so another account can
  // be chosen; one the environment is not linked to is refused by the relay, and says so.
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await expect.poll(() => authorize.length).toBe(2);
  expect(authorize[1]!.searchParams.get('prompt')).toBe('login');
  await signInAtProvider(device.page, 'mallory');
  await expect(account).toContainText('Signed in as mallory');
  await expect(device.page.getByRole('heading', { name: 'Could not connect' })).toBeVisible();
  await expect(device.page.getByRole('region', { name: 'Connection' })).toContainText('not linked to your account');
});

test('a tampered state on the way back is refused with a clear message, and the code is never redeemed', async ({ gatehouse, openDevice }) => {
  const device = await openDevice();
  const tokenCalls: string[] = [];
  device.page.on('request', (request) => void (request.url().includes('/dev-issuer/oauth/token') && tokenCalls.push(request.url())));
  // Someone swaps the secret half of `state` on its way through the provider (the origin half still
  // names this page, so the relay's callback hands the answer on to it).
  await device.page.route(`${gatehouse.relay.publicUrl}/dev-issuer/auth?*`, async (route) => {
    const url = new URL(route.request().url());
    const [, origin] = url.searchParams.get('state')!.split('.');
    url.searchParams.set('state', `${'A'.repeat(43)}.${origin}`);
    await route.continue({ url: url.href });
  });
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(device.page);
  await expect(device.page.getByRole('heading', { name: 'Sign-in refused' })).toBeVisible();
  await expect(device.page.getByRole('region', { name: 'Connection' })).toContainText('does not belong to the sign-in this page started (its state differs)');
  await expect(device.page.getByRole('group', { name: 'Account' })).toContainText('Not signed in');
  expect(tokenCalls).toEqual([]);
  expect((await gatehouse.api.connect.clients.list.query()).items).toEqual([]);

  // The same answer again (a replay of the fragment) finds no sign-in waiting for it.
  await device.page.unrouteAll();
  await device.page.goto('about:blank'); // a new document, not a jump within this one
  await device.page.goto(`/device#${new URLSearchParams({ code: 'c0de', state: `${'A'.repeat(43)}.${b64(gatehouse.env.publicUrl)}` })}`);
  await expect(device.page.getByRole('region', { name: 'Connection' })).toContainText('was not started on this page, or was already used');
  expect(tokenCalls).toEqual([]);

  // Trying again signs in for real.
  await device.page.getByRole('button', { name: 'Try again' }).click();
  await expect(device.page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  await expect(device.page.getByRole('group', { name: 'Account' })).toContainText('Signed in as owner');
});

test('an invite link survives the trip through the provider: after signing in, the device is let in at once', async ({ gatehouse, openPage }) => {
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const invite = await gatehouse.api.connect.invites.create.mutate({ expiresInSeconds: 600, label: 'Guest laptop' });
  const page = await openPage();
  await page.goto(invite.url);
  await expect(page.getByRole('heading', { name: 'Not connected' })).toBeVisible();
  expect(new URL(page.url()).hash).toBe(''); // the secret left the address bar at once
  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page);
  // Approved by the invite, not waiting for the owner.
  await expect(page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  expect((await gatehouse.api.connect.clients.list.query()).items.map((c) => c.status)).toEqual(['approved']);
  // Nothing of the sign-in or the invite is left in this tab's storage but the account itself.
  expect(await page.evaluate(() => Object.keys(sessionStorage).sort())).toEqual(['gatehouse.sign-in.account']);
});

test('an invite’s secret leaves the address bar as the page starts, before its code has even loaded, and Connect still uses it', async ({ gatehouse, openPage }) => {
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const invite = await gatehouse.api.connect.invites.create.mutate({ expiresInSeconds: 600, label: 'Slow phone' });
  const page = await openPage();
  // The device page's own code is held back, as on a slow network: the secret must be gone meanwhile.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let asked!: () => void;
  const requested = new Promise<void>((resolve) => (asked = resolve));
  await page.route(/\/assets\/device-page-[^/]*\.js$/, async (route) => {
    asked();
    await held;
    await route.continue();
  });
  await page.goto(invite.url, { waitUntil: 'commit' });
  await requested;
  await expect(page).not.toHaveURL(new RegExp(invite.secret));
  expect(await page.evaluate(() => location.href)).toBe(`${gatehouse.env.publicUrl}/device`);
  release();
  await expect(page.getByRole('heading', { name: 'Not connected' })).toBeVisible();
  expect(page.url()).not.toContain(invite.secret);
  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page);
  await expect(page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  expect((await gatehouse.api.connect.clients.list.query()).items.map((c) => c.status)).toEqual(['approved']);
  expect(await gatehouse.api.connect.invites.list.query()).toEqual([]);
});

test('the relay’s callback refuses to hand a sign-in on to an origin that is not one of its device pages', async ({ gatehouse, openPage, allowConsole }) => {
  allowConsole(/Failed to load resource: the server responded with a status of 400/);
  const page = await openPage();
  const leaks: string[] = [];
  page.on('request', (request) => void (new URL(request.url()).hostname.endsWith('evil.example') && leaks.push(request.url())));
  for (const target of ['https://evil.example', 'http://evil.example:80', `http://abc.localhost:${new URL(gatehouse.relay.publicUrl).port}`, 'http://127.0.0.1:1']) {
    const response = await page.goto(`${gatehouse.relay.publicUrl}/sign-in/callback?${new URLSearchParams({ code: 'c0de', state: `${'A'.repeat(43)}.${b64(target)}` })}`);
    expect(response?.status(), target).toBe(400);
    await expect(page).toHaveURL(new RegExp(`^${gatehouse.relay.publicUrl}/sign-in/callback`));
    await expect(page.getByRole('heading', { name: 'Sign-in refused' })).toBeVisible();
    await expect(page.getByRole('alert')).toContainText('does not name a device page this relay serves');
  }
  expect(leaks).toEqual([]);
});

test('short-lived ID tokens are refreshed with the refresh token before use; Sign out revokes it at the provider', async ({ page }) => {
  // ID tokens shorter-lived than the page's 30 s margin: every use needs a refresh first.
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-refresh-'));
  const relay = await startRelay({ dataDir: join(dataDir, 'relay'), port: 0, devIssuer: true, devIssuerIdTokenTtlSeconds: 20 });
  const env = await startEnvironment({ dataDir: join(dataDir, 'env'), port: 0 });
  try {
    relay.allowOrigin(env.publicUrl);
    await env.link(relay.publicUrl, await relay.devIssuer!.issueIdToken('owner'));
    const problems: string[] = [];
    page.on('console', (m) => void ((m.type() === 'error' || m.type() === 'warning') && problems.push(m.text())));
    const grants: string[] = [];
    const revocations: number[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path === '/dev-issuer/oauth/token') grants.push(new URLSearchParams(request.postData() ?? '').get('grant_type') ?? '?');
    });
    page.on('response', (response) => void (new URL(response.url()).pathname === '/dev-issuer/token/revocation' && revocations.push(response.status())));

    await page.goto(`${env.publicUrl}/device`);
    await page.getByRole('button', { name: 'Connect' }).click();
    await signInAtProvider(page);
    await expect(page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
    // The code's ID token had under 30 s left: the page refreshed it before the relay saw it.
    await expect.poll(() => grants).toEqual(['authorization_code', 'refresh_token']);

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect(page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
    await expect.poll(() => grants).toEqual(['authorization_code', 'refresh_token', 'refresh_token']);

    await page.getByRole('group', { name: 'Account' }).getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => revocations).toEqual([200]);
    await expect(page.getByRole('group', { name: 'Account' })).toContainText('Not signed in');
    expect(problems).toEqual([]);
  } finally {
    await page.close();
    await env.close();
    await relay.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

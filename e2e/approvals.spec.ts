// Approvals beyond yes and no (SPEC §13) in the browser, with the environment reached only through its
// tunnel and every /device page on the environment's own origin at the relay: an invite lets a second
// browser in with no owner click; an approver device approves a third one; a device rotates its key.
import type { Page } from '@playwright/test';
import { verificationCode } from '../shared/verification-code';
import { clientRow, expect, test, type TunnelledEnvironment, signInAtProvider } from './fixtures';

const CODE = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/;

/** The owner, signed in through a one-time login link, on this environment's Settings → Connections. */
async function ownerOf(page: Page, environment: TunnelledEnvironment): Promise<Page> {
  await page.goto(environment.env.loginUrl());
  await expect(page).toHaveURL(/\/settings\/connections$/);
  await expect(page.getByRole('heading', { name: 'Connections', level: 1 })).toBeVisible();
  return page;
}

/** Opens `url` (the device page on the environment's origin at the relay); returns the code it shows. */
async function openDevice(page: Page, url: string): Promise<string> {
  await page.goto(url);
  const code = page.getByLabel(/^Verification code /);
  await expect(code).toHaveText(CODE);
  return (await code.textContent())!.trim();
}

const connection = (page: Page) => page.getByRole('region', { name: 'Connection' });

/** The client key the connected page shows. */
async function connectedThumbprint(page: Page): Promise<string> {
  await expect(connection(page).getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  return (await connection(page).getByRole('definition').filter({ has: page.locator('code.wrap') }).textContent())!.trim();
}

test('1 · an invite from the settings page: a second browser opens its URL on the relay origin and is connected without an owner click', async ({ relayWithPages, openRelayPage, allowConsole, shot }) => {
  const environment = await relayWithPages.addEnvironment();
  await environment.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const owner = await ownerOf(await openRelayPage(), environment);

  const invites = owner.getByRole('region', { name: 'Invites' });
  await invites.getByLabel('Label').fill('for the kitchen');
  await invites.getByRole('button', { name: 'Create invite' }).click();
  const shown = invites.getByRole('group', { name: 'New invite' });
  await expect(shown.getByRole('img', { name: 'QR code of the invite link' })).toBeVisible();
  // The link shown next to the QR code is the one it encodes.
  const url = (await shown.getByRole('link').textContent())!.trim();
  expect(url.startsWith(`${environment.deviceOrigin}/device#`)).toBe(true);
  const openInvites = invites.getByRole('list', { name: 'Open invites' });
  await expect(openInvites.getByRole('listitem')).toHaveCount(1);
  await expect(openInvites).toContainText('for the kitchen');
  await shot(owner, 'approvals-invite-created');

  // Every owner decision that leaves the owner's page: there must be none.
  const decisions: string[] = [];
  owner.on('request', (request) => {
    if (/\/trpc\/[^?]*connect\.clients\.(approve|reject|setApprover)/.test(request.url())) decisions.push(request.url());
  });

  const device = await openRelayPage();
  const code = await openDevice(device, url);
  await device.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(device); // Connect signs in at the account issuer first
  const thumbprint = await connectedThumbprint(device);
  // The secret left the address bar once read.
  await expect(device).toHaveURL(`${environment.deviceOrigin}/device`);
  await expect(device.getByRole('heading', { name: 'Waiting for approval…' })).toHaveCount(0);
  await shot(device, 'approvals-invite-connected');

  // The owner's page shows who joined with which invite, live, and the row is approved.
  await expect(clientRow(owner, code)).toContainText('Approved');
  await expect(owner.getByText(/joined with invite 'for the kitchen'/).first()).toBeVisible();
  // Used: no longer open, and the owner's list says so at once (the join's live event), not on a 30 s refresh.
  expect(await environment.api.connect.invites.list.query()).toEqual([]);
  await expect(openInvites).toHaveCount(0, { timeout: 5_000 });
  expect(decisions).toEqual([]);
  const [row] = (await environment.api.connect.clients.list.query({ status: 'approved' })).items;
  expect(row).toMatchObject({ clientProofKeyThumbprint: thumbprint, verificationCode: code });
  await shot(owner, 'approvals-invite-joined');

  // Single use: a third browser with the same URL is not let in by it (the refusal is a 403 in its console).
  allowConsole(/status of 403 \(Forbidden\) \[[^\]]*\/trpc\/environments\.connect\]/);
  const other = await openRelayPage();
  await openDevice(other, url);
  await other.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(other); // Connect signs in at the account issuer first
  await expect(connection(other).getByRole('heading', { name: 'Could not connect' })).toBeVisible();
  await expect(connection(other)).toContainText(/invite cannot be used/);
  await expect(connection(other).getByRole('heading', { name: 'Connected', exact: true })).toHaveCount(0);
});

test('2 · an approver device: the owner marks it on the settings page; its /device page approves a third device, which connects', async ({ relayWithPages, openRelayPage, shot }) => {
  const environment = await relayWithPages.addEnvironment();
  await environment.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const owner = await ownerOf(await openRelayPage(), environment);

  // Device A asks and the owner approves it on the page.
  const phone = await openRelayPage();
  const phoneCode = await openDevice(phone, `${environment.deviceOrigin}/device`);
  await phone.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(phone); // Connect signs in at the account issuer first
  await expect(phone.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  const phoneRow = clientRow(owner, phoneCode);
  await phoneRow.getByRole('button', { name: 'Approve' }).click();
  await connectedThumbprint(phone);
  // Not an approver yet: no waiting list on its page.
  await expect(phone.getByRole('heading', { name: 'Devices waiting for approval' })).toHaveCount(0);

  // The owner makes it an approver in its details (and could take it back there).
  await phoneRow.getByRole('button', { name: /^Details of / }).click();
  await phoneRow.getByRole('button', { name: 'Let it approve others' }).click();
  await expect(phoneRow.getByText('Approver device')).toBeVisible();
  await expect(phoneRow.getByRole('button', { name: 'Stop it approving others' })).toBeVisible();
  expect((await environment.api.connect.clients.list.query({ status: 'approved' })).items).toEqual([expect.objectContaining({ verificationCode: phoneCode, approver: true })]);
  await shot(owner, 'approvals-approver-marked');

  // A's page shows the waiting list as soon as it is looked at again (no reconnect): empty, and never
  // A itself. It is live (`client.approvals` through the relay): the page never reads the list itself.
  const listReads: string[] = [];
  phone.on('request', (request) => {
    if (/\/trpc\/[^?]*connect\.clients\.list/.test(request.url())) listReads.push(request.url());
  });
  await phone.evaluate(() => window.dispatchEvent(new Event('focus')));
  const panel = phone.getByRole('region', { name: 'Devices waiting for approval' });
  await expect(panel.getByText('No device is waiting.')).toBeVisible();

  // Device C asks; it appears on A's page live, with the code C shows.
  const tablet = await openRelayPage();
  const tabletCode = await openDevice(tablet, `${environment.deviceOrigin}/device`);
  await tablet.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(tablet); // Connect signs in at the account issuer first
  await expect(tablet.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  const waiting = panel.getByRole('list', { name: 'Devices waiting for approval' }).getByRole('listitem');
  await expect(waiting).toHaveCount(1);
  await expect(waiting).toContainText(tabletCode);
  await expect(waiting).not.toContainText(phoneCode);
  await shot(phone, 'approvals-approver-panel');
  expect(listReads).toEqual([]);

  // A has no owner controls: no mode switch, no invites, no approver toggle, no revoke.
  for (const name of [/Require Connect client approval/, /Create invite/, /approve others/, /^Revoke/]) {
    await expect(phone.getByRole('button', { name })).toHaveCount(0);
    await expect(phone.getByRole('switch', { name })).toHaveCount(0);
  }

  await waiting.getByRole('button', { name: 'Approve' }).click();
  await expect(panel.getByRole('status')).toContainText(`Approved for 24 hours`);
  await connectedThumbprint(tablet);
  await expect(waiting).toHaveCount(0);
  // The owner sees C approved by the approver, for a time.
  await expect(clientRow(owner, tabletCode)).toContainText('Approved');
  const [entry] = await environment.api.connect.audit.list.query({ limit: 1 });
  expect(entry).toMatchObject({ actor: 'approver', action: 'client_approved' });
  await shot(tablet, 'approvals-approved-by-approver');

  // The owner takes the right back: A's waiting list goes away at once, and A stays connected.
  await phoneRow.getByRole('button', { name: 'Stop it approving others' }).click();
  await expect(phoneRow.getByText('Not an approver')).toBeVisible();
  await expect(panel).toHaveCount(0);
  await expect(connection(phone).getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
});

test('3 · Rotate key on /device: the approval moves to a new key, the page connects again at once, the owner sees the new code', async ({ relayWithPages, openRelayPage, shot }) => {
  const environment = await relayWithPages.addEnvironment();
  await environment.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const device = await openRelayPage();
  const oldCode = await openDevice(device, `${environment.deviceOrigin}/device`);
  await device.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(device); // Connect signs in at the account issuer first
  await expect(device.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  await expect.poll(async () => (await environment.api.connect.clients.list.query()).items.map((c) => c.verificationCode)).toEqual([oldCode]);
  const [pending] = (await environment.api.connect.clients.list.query()).items;
  await environment.api.connect.clients.approve.mutate({ clientProofKeyThumbprint: pending!.clientProofKeyThumbprint });
  const oldKey = await connectedThumbprint(device);

  await device.getByRole('button', { name: 'Rotate key' }).click();
  await expect(device.getByRole('status').filter({ hasText: /Moved this device’s approval to a new key/ })).toContainText(`(was ${oldCode})`);
  const newKey = await connectedThumbprint(device);
  const newCode = (await device.getByLabel(/^Verification code /).textContent())!.trim();
  expect(newKey).not.toBe(oldKey);
  expect(newCode).not.toBe(oldCode);
  await shot(device, 'approvals-key-rotated');

  // Still approved, under the new key only; the audit names both.
  expect((await environment.api.connect.clients.list.query()).items.map((c) => [c.clientProofKeyThumbprint, c.status])).toEqual([[newKey, 'approved']]);
  const [entry] = await environment.api.connect.audit.list.query({ limit: 1 });
  expect(entry).toMatchObject({ actor: 'client', action: 'client_key_rotated', detail: { oldThumbprint: oldKey, newThumbprint: newKey } });

  // The new key is the one kept: after a reload the page shows the new code and connects without approval.
  await device.reload();
  await expect(device.getByLabel(`Verification code ${newCode}`)).toBeVisible();
  await device.getByRole('button', { name: 'Connect' }).click();
  expect(await connectedThumbprint(device)).toBe(newKey);
});

test('4 · Rotate key is offered only where there is an approval to move: not in account mode, then after the owner approved the device', async ({ gatehouse, openDevice }) => {
  // Account mode (the default): any device of the account gets in, and no approval of its own exists.
  const device = await openDevice();
  const page = device.page;
  const rotate = page.getByRole('button', { name: 'Rotate key' });
  // The page asks the environment whether this device has an approval to move; its answer decides.
  const askedWhetherItApplies = () => page.waitForResponse((response) => response.url().includes('client.canRotateKey'), { timeout: 20_000 });
  let checked = askedWhetherItApplies();
  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page); // Connect signs in at the account issuer first
  await expect(connection(page).getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Disconnect' })).toBeVisible();
  expect((await checked).ok()).toBe(true);
  await expect(rotate).toHaveCount(0);

  // Approval required: this account-mode session ends (S57); asked again and approved, the page offers it.
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  await expect(connection(page).getByRole('heading', { name: 'Access revoked' })).toBeVisible();
  checked = askedWhetherItApplies();
  await page.getByRole('button', { name: 'Connect again' }).click();
  await expect(page.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  const [pending] = (await gatehouse.api.connect.clients.list.query()).items;
  expect(pending).toMatchObject({ verificationCode: device.code, status: 'pending' });
  await gatehouse.api.connect.clients.approve.mutate({ clientProofKeyThumbprint: pending!.clientProofKeyThumbprint });
  await expect(connection(page).getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  expect((await checked).ok()).toBe(true);
  await expect(rotate).toBeVisible();
});

test('5 · a rotation whose answer never reached the page (cut off, or the page closed): the next load finishes it, whether or not the environment had moved the approval', async ({ gatehouse, openDevice, allowConsole }) => {
  // The cut-off requests, and the old session's refusal when the environment had already moved the approval.
  allowConsole(/net::ERR_INTERNET_DISCONNECTED/);
  allowConsole(/status of 401 \(Unauthorized\) \[[^\]]*\/trpc\/client\.rotateKey/);
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const device = await openDevice();
  const context = device.page.context();
  let page = device.page;
  await page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(page); // Connect signs in at the account issuer first
  await expect(page.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  const [asking] = (await gatehouse.api.connect.clients.list.query()).items;
  await gatehouse.api.connect.clients.approve.mutate({ clientProofKeyThumbprint: asking!.clientProofKeyThumbprint });
  let key = await connectedThumbprint(page);
  const clients = async () => (await gatehouse.api.connect.clients.list.query()).items.map((c) => [c.clientProofKeyThumbprint, c.status]);
  const rotateKey = /\/trpc\/client\.rotateKey/;
  /** The page's key after it settled and connected again by itself: a new one, the only approved row. */
  const settled = async (opts = { notice: true }) => {
    if (opts.notice) await expect(page.getByRole('status').filter({ hasText: /Moved this device’s approval to a new key/ })).toBeVisible();
    const now = await connectedThumbprint(page);
    expect(now).not.toBe(key);
    await expect(page.getByLabel(`Verification code ${await verificationCode(now)}`)).toBeVisible();
    expect(await clients()).toEqual([[now, 'approved']]);
    return now;
  };

  // Cut off before the request reached the environment: the old key is still the approved one, and
  // the reload the page does sends the staged rotation again.
  await page.route(rotateKey, (route) => route.abort('internetdisconnected'), { times: 1 });
  await page.getByRole('button', { name: 'Rotate key' }).click();
  key = await settled();

  // The environment moved the approval, the answer was lost: the old session is refused on the retry,
  // so the staged key is the one the approval went to.
  await page.route(rotateKey, async (route) => {
    await route.fetch();
    await route.abort('internetdisconnected');
  }, { times: 1 });
  await page.getByRole('button', { name: 'Rotate key' }).click();
  key = await settled();

  // The same with the page closed before it heard back: the next page opened finishes it.
  let answered!: () => void;
  const moved = new Promise<void>((resolve) => (answered = resolve));
  await page.route(rotateKey, async (route) => {
    await route.fetch();
    answered();
  }, { times: 1 });
  await page.getByRole('button', { name: 'Rotate key' }).click();
  await moved;
  const [[movedTo]] = (await clients()) as [[string, string]];
  expect(movedTo).not.toBe(key);
  await page.close();
  page = await context.newPage(); // same IndexedDB; a new tab, so it connects through the provider, which still knows this browser
  await page.goto('/device');
  key = await settled({ notice: false });
  expect(key).toBe(movedTo);
  const [entry] = await gatehouse.api.connect.audit.list.query({ limit: 1 });
  expect(entry).toMatchObject({ actor: 'client', action: 'client_key_rotated', detail: { newThumbprint: key } });
});

// The owner console, second version (issue 17 items 1–12): stable order, confirmations that name
// their consequence, search/filter/bulk, rename and details, connected devices, focus, axe.
import type { Page } from '@playwright/test';
import { rejectClient } from '../server/env/connect/client-decisions.service';
import { requestClient } from '../server/env/connect/client-requests.service';
import { gatehouseSoftware } from '../shared/software';
import { createClientSession } from '../server/env/connect/client-sessions.service';
import { verificationCodeOf } from '../server/env/connect/client-view';
import { clientRow, expect, signInAtProvider, test, type Gatehouse } from './fixtures';
import { expectNoAxeViolations as axe } from './visual';

// Real stacks, axe runs and two viewport sizes per state: more than the default 30 s on 2 cores.
test.describe.configure({ timeout: 120_000 });

/** A fresh key asking through the service, as the mint path does; `n` picks the key. */
const thumbprintOf = (n: number) => `e2e${String(n).padStart(6, '0')}${'x'.repeat(34)}`;
function ask(gatehouse: Gatehouse, n: number, label: string, os = 'Linux') {
  requestClient(gatehouse.env.deps, { clientProofKeyThumbprint: thumbprintOf(n), accountId: 'owner', client: { label, os, deviceType: 'desktop' } });
  return { thumbprint: thumbprintOf(n), code: verificationCodeOf(thumbprintOf(n)) };
}
function giveSession(gatehouse: Gatehouse, n: number) {
  const deps = gatehouse.env.deps;
  deps.db.transaction((tx) => createClientSession(tx, deps.clock.now(), thumbprintOf(n), 'owner'));
}

const rowTitles = (page: Page) => page.getByRole('list', { name: 'Connect clients' }).getByRole('heading', { level: 3 }).allTextContents();

test('order stays put while waiting devices ask again; turning approval off names who gets in', async ({ owner, gatehouse, shot }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const a = ask(gatehouse, 1, 'Alpha laptop');
  ask(gatehouse, 2, 'Bravo phone');
  ask(gatehouse, 3, 'Charlie tablet');
  await expect(clientRow(owner, a.code)).toBeVisible();
  const before = await rowTitles(owner);
  expect(before).toEqual(['Alpha laptop', 'Bravo phone', 'Charlie tablet']);
  // Each asks again (the newest last): a row that jumped to the top would change the order.
  // Repeats within a second share one event, so each asks until its count shows.
  for (const [n, times] of [[3, 2], [2, 2], [1, 2], [3, 3]] as const) {
    const code = verificationCodeOf(thumbprintOf(n));
    await expect(async () => {
      ask(gatehouse, n, ['', 'Alpha laptop', 'Bravo phone', 'Charlie tablet'][n]!);
      await expect(clientRow(owner, code)).toContainText(new RegExp(`asked (${times}|${times + 1}|${times + 2}) times`), { timeout: 1500 });
    }).toPass();
    expect(await rowTitles(owner)).toEqual(before);
  }
  await axe(owner, 'three pending');
  await shot(owner, 'console-pending');

  // Reject one: two for the dialog, so the off-switch names 2 waiting and 1 rejected.
  await gatehouse.api.connect.clients.reject.mutate({ clientProofKeyThumbprint: a.thumbprint });
  await expect(clientRow(owner, a.code)).toContainText('Rejected');
  await owner.getByRole('switch', { name: 'Require Connect client approval' }).click();
  const dialog = owner.getByRole('dialog', { name: 'Turn off approval?' });
  await expect(dialog).toContainText('2 waiting and 1 rejected devices will be able to connect');
  await axe(owner, 'turn-off dialog');
  await shot(owner, 'console-confirm-off');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  expect(await gatehouse.api.connect.securityMode.get.query()).toEqual({ mode: 'client-approval' });
  await expect(owner.getByRole('switch', { name: 'Require Connect client approval' })).toBeFocused();

  await owner.getByRole('switch', { name: 'Require Connect client approval' }).press('Space');
  await owner.getByRole('dialog', { name: 'Turn off approval?' }).getByRole('button', { name: 'Turn off approval' }).click();
  await expect(owner.getByRole('switch', { name: 'Require Connect client approval' })).not.toBeChecked();
  expect(await gatehouse.api.connect.securityMode.get.query()).toEqual({ mode: 'account' });
  // Account mode: decisions are shown as not in force, with no live Approve buttons.
  await expect(clientRow(owner, a.code)).toContainText('Rejected (not in force)');
  await expect(owner.getByRole('list', { name: 'Connect clients' }).getByRole('button', { name: /^Approve / })).toHaveCount(0);
  await axe(owner, 'account mode with decisions');
  await shot(owner, 'console-account-mode');
});

test('turning approval on previews connected devices, approves the chosen one and reports ended sessions', async ({ owner, gatehouse, shot }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  giveSession(gatehouse, 11); // connected in account mode: no row
  giveSession(gatehouse, 12);
  giveSession(gatehouse, 12);
  await owner.reload(); // sessions in account mode send no access event; the page looks again every 15 s or on load
  const connected = owner.getByRole('list', { name: 'Connected devices' });
  await expect(connected.getByRole('listitem')).toHaveCount(2);
  await expect(connected).toContainText(`Device ${verificationCodeOf(thumbprintOf(12))}`);
  await expect(connected).toContainText('2 sessions');
  await axe(owner, 'connected in account mode');
  await shot(owner, 'console-connected-account');

  await owner.getByRole('switch', { name: 'Require Connect client approval' }).click();
  const dialog = owner.getByRole('dialog', { name: 'Require approval?' });
  await expect(dialog).toContainText('2 devices are connected now without approval');
  await dialog.getByRole('checkbox', { name: new RegExp(`Approve Device ${verificationCodeOf(thumbprintOf(11))}`) }).check();
  await axe(owner, 'turn-on preview');
  await shot(owner, 'console-preview-on');
  await dialog.getByRole('button', { name: 'Approve 1 and require approval' }).click();
  await expect(owner.getByRole('region', { name: 'Alerts' })).toContainText('Approved 1 connected device. Ended 2 sessions of devices that are not approved.');
  await expect(owner.getByRole('switch', { name: 'Require Connect client approval' })).toBeChecked();
  await expect(connected.getByRole('listitem')).toHaveCount(1);
  const kept = clientRow(owner, verificationCodeOf(thumbprintOf(11)));
  await expect(kept).toContainText('Approved');

  // End its sessions from the list, after a confirmation.
  await connected.getByRole('button', { name: /^End sessions of / }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'End sessions' }).click();
  await expect(owner.getByRole('region', { name: 'Alerts' })).toContainText('Ended 1 session of');
  await expect(owner.getByText('No device holds a session.')).toBeVisible();
  const audit = await gatehouse.api.connect.audit.list.query({ actor: 'web' });
  expect(audit.map((e) => e.action)).toEqual(['client_sessions_ended', 'security_mode_set', 'client_approved']);
});

test('reject and revoke ask first, name the row, and focus stays on the row', async ({ owner, gatehouse }) => {
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const one = ask(gatehouse, 21, 'Kitchen iPad', 'iPadOS');
  const two = ask(gatehouse, 22, 'Hall phone', 'Android');
  const row = clientRow(owner, one.code);
  await row.getByRole('button', { name: 'Reject Kitchen iPad' }).click();
  const dialog = owner.getByRole('dialog', { name: 'Reject Kitchen iPad?' });
  await expect(dialog).toContainText('any open sessions end at once');
  await owner.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  expect((await gatehouse.api.connect.clients.list.query()).counts).toEqual({ pending: 2, approved: 0, rejected: 0 });
  await expect(row.getByRole('button', { name: 'Reject Kitchen iPad' })).toBeFocused();

  await row.getByRole('button', { name: 'Reject Kitchen iPad' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Reject Kitchen iPad' }).click();
  await expect(row).toContainText('Rejected');
  // The row moved (decided rows follow pending ones); focus went with it, never to <body>.
  await expect(row.getByRole('button', { name: 'Approve Kitchen iPad' })).toBeFocused();

  // Approve needs no confirmation; focus stays on the row's remaining button.
  await clientRow(owner, two.code).getByRole('button', { name: 'Approve Hall phone' }).click();
  await expect(clientRow(owner, two.code)).toContainText('Approved');
  await expect(clientRow(owner, two.code).getByRole('button', { name: 'Revoke Hall phone' })).toBeFocused();

  await clientRow(owner, two.code).getByRole('button', { name: 'Revoke Hall phone' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Revoke Hall phone' }).click();
  await expect(clientRow(owner, two.code)).toHaveCount(0);
  // The row is gone: focus lands on the row now in its place.
  await expect(owner.locator(':focus')).toHaveAttribute('data-thumbprint', /.+/);
});

test('search, status filters with counts, bulk decisions, reject all pending', async ({ owner, gatehouse, shot }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  for (let n = 0; n < 8; n++) ask(gatehouse, 30 + n, n < 4 ? `Office PC ${n}` : `Phone ${n}`, n < 4 ? 'Windows' : 'Android');
  const list = owner.getByRole('list', { name: 'Connect clients' });
  await expect(list.getByRole('listitem')).toHaveCount(8);
  const search = owner.getByRole('searchbox', { name: 'Search devices' });
  await search.fill('android');
  await expect(list.getByRole('listitem')).toHaveCount(4);
  await search.fill(verificationCodeOf(thumbprintOf(31)));
  await expect(list.getByRole('listitem')).toHaveCount(1);
  await expect(list).toContainText('Office PC 1');
  await search.fill('');

  // Select two phones and approve them together.
  await owner.getByRole('checkbox', { name: 'Select Phone 4' }).check();
  await owner.getByRole('checkbox', { name: 'Select Phone 5' }).check();
  await expect(owner.getByRole('group', { name: 'Selected devices' })).toContainText('2 selected');
  await axe(owner, 'two selected');
  await owner.getByRole('button', { name: 'Approve selected' }).click();
  await owner.getByRole('dialog', { name: 'Approve 2 devices?' }).getByRole('button', { name: 'Approve 2 devices' }).click();
  await expect(owner.getByRole('region', { name: 'Alerts' })).toContainText('Approved 2 devices.');
  expect((await gatehouse.api.connect.clients.list.query()).counts).toEqual({ pending: 6, approved: 2, rejected: 0 });
  const filters = owner.getByRole('group', { name: 'Show devices' });
  await expect(filters.getByRole('button', { name: 'Approved 2' })).toBeVisible();
  await expect(filters.getByRole('button', { name: 'Pending 6' })).toBeVisible();
  await filters.getByRole('button', { name: 'Approved 2' }).click();
  await expect(list.getByRole('listitem')).toHaveCount(2);
  await shot(owner, 'console-filter-approved');
  await filters.getByRole('button', { name: 'All 8' }).click();

  await owner.getByRole('button', { name: 'Reject all pending (6)' }).click();
  const dialog = owner.getByRole('dialog', { name: 'Reject 6 devices?' });
  await axe(owner, 'reject-all dialog');
  await dialog.getByRole('button', { name: 'Reject 6 devices' }).click();
  await expect(filters.getByRole('button', { name: 'Rejected 6' })).toBeVisible();
  expect((await gatehouse.api.connect.clients.list.query()).counts).toEqual({ pending: 0, approved: 2, rejected: 6 });
  await axe(owner, 'after bulk reject');
});

test('rename and details: the name shows everywhere, "calls itself", copy the thumbprint and the CLI command', async ({ owner, gatehouse, shot }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  await owner.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const ipad = ask(gatehouse, 41, 'iPad', 'iPadOS 18');
  const row = clientRow(owner, ipad.code);
  await row.getByRole('button', { name: 'Details of iPad' }).click();
  await row.getByRole('textbox', { name: 'Your name for it' }).fill('Kitchen iPad');
  await row.getByRole('button', { name: 'Save name' }).click();
  await expect(row.getByRole('heading', { name: 'Kitchen iPad' })).toBeVisible();
  await expect(row).toContainText('calls itself “iPad”');
  await expect(row.getByRole('button', { name: 'Approve Kitchen iPad' })).toBeVisible();
  await expect(row).toContainText(ipad.thumbprint);
  await row.getByRole('button', { name: 'Copy command' }).click();
  expect(await owner.evaluate(() => navigator.clipboard.readText())).toBe(`npx gatehouse connect security approve -- ${ipad.thumbprint}`);
  await row.getByRole('button', { name: 'Copy thumbprint' }).click();
  expect(await owner.evaluate(() => navigator.clipboard.readText())).toBe(ipad.thumbprint);
  await axe(owner, 'details open');
  await shot(owner, 'console-details');

  // The activity log names it by its new name; filter by device and by actor; "Show older" pages back.
  const activity = owner.getByRole('region', { name: 'Activity' });
  await expect(activity.getByRole('row').filter({ hasText: 'Kitchen iPad' }).first()).toBeVisible();
  for (let n = 0; n < 30; n++) ask(gatehouse, 100 + n, `Noise ${n}`);
  await gatehouse.api.connect.clients.approve.mutate({ clientProofKeyThumbprint: ipad.thumbprint });
  await activity.getByRole('combobox', { name: 'Device' }).selectOption({ label: `Kitchen iPad (${ipad.code})` });
  await expect(activity.getByRole('row')).toHaveCount(4); // header, approved, renamed, requested
  await activity.getByRole('combobox', { name: 'Who' }).selectOption({ label: 'Settings page' });
  await expect(activity.getByRole('row')).toHaveCount(2);
  await activity.getByRole('combobox', { name: 'Who' }).selectOption({ value: '' });
  await activity.getByRole('combobox', { name: 'Device' }).selectOption({ value: '' });
  await expect(activity.getByRole('row')).toHaveCount(26);
  await activity.getByRole('button', { name: 'Show older' }).click();
  await expect(activity.getByRole('row')).toHaveCount(35); // 34 entries: mode, 3 about the iPad, 30 requests
  await axe(owner, 'activity with older');
});

test('dark mode follows the system, a skip link leads to the content, and every state passes axe', async ({ openPage, gatehouse, shot }) => {
  const page = await openPage({ colorScheme: 'dark', viewport: { width: 1280, height: 900 } });
  await page.goto(gatehouse.env.loginUrl());
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const one = ask(gatehouse, 51, 'Night owl', 'macOS');
  ask(gatehouse, 52, 'Late phone', 'Android');
  await expect(clientRow(page, one.code)).toBeVisible();
  await gatehouse.api.connect.clients.approve.mutate({ clientProofKeyThumbprint: one.thumbprint });
  await expect(clientRow(page, one.code)).toContainText('Approved');
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor || getComputedStyle(document.documentElement).backgroundColor);
  expect(background).not.toBe('rgb(245, 246, 248)');
  await axe(page, 'dark mode');
  await shot(page, 'console-dark');

  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main')).toBeFocused();
});

test('toasts never cover a row button; touch targets are at least 44 px on a phone', async ({ owner, gatehouse }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  for (let n = 0; n < 12; n++) ask(gatehouse, 60 + n, `Desk ${n}`);
  const first = clientRow(owner, verificationCodeOf(thumbprintOf(60)));
  await first.getByRole('button', { name: 'Approve Desk 0' }).click();
  await expect(owner.getByRole('region', { name: 'Alerts' }).getByRole('status')).toContainText('Approved Desk 0');
  // Wherever the page is scrolled, the toast's box meets no button of any row.
  for (const y of [0, 400, 2000]) {
    const overlapping = await owner.evaluate((top) => {
      window.scrollTo(0, top);
      const toast = document.querySelector('.toasts .toast')?.getBoundingClientRect();
      if (!toast) return ['no toast'];
      return [...document.querySelectorAll<HTMLElement>('ul.clients button')]
        .filter((b) => {
          const r = b.getBoundingClientRect();
          return toast.x < r.x + r.width && r.x < toast.x + toast.width && toast.y < r.y + r.height && r.y < toast.y + toast.height;
        })
        .map((b) => b.getAttribute('aria-label') ?? b.textContent ?? '');
    }, y);
    expect(overlapping, `scrolled to ${y}`).toEqual([]);
  }

  await owner.setViewportSize({ width: 390, height: 844 });
  await expect(owner.getByRole('searchbox', { name: 'Search devices' })).toBeVisible();
  const small = await owner.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('main button, main input[type=search], main select, main input[type=checkbox]')]
      .map((e) => ({ e, r: (e.closest('label') ?? e).getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && (r.height < 44 || r.width < 44))
      .map(({ e, r }) => `${e.getAttribute('aria-label') ?? e.textContent ?? e.tagName} ${Math.round(r.width)}×${Math.round(r.height)}`),
  );
  expect(small).toEqual([]);
});

test('10,000-style paging: the page holds one page of rows, yet counts, the off-switch dialog and "Reject all pending" cover every device', async ({ owner, gatehouse, shot }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const deps = gatehouse.env.deps;
  // 72 rejected (decided first, so the 3 waiting ones ask last and sort first), then 3 waiting.
  for (let n = 0; n < 72; n++) {
    ask(gatehouse, 500 + n, `Rejected ${n}`);
    rejectClient(deps, thumbprintOf(500 + n), 'api');
  }
  const waiting = [ask(gatehouse, 600, 'Waiting A'), ask(gatehouse, 601, 'Waiting B'), ask(gatehouse, 602, 'Waiting C')];
  await owner.reload();
  const list = owner.getByRole('list', { name: 'Connect clients' });
  await expect(list.getByRole('listitem')).toHaveCount(50);
  const filters = owner.getByRole('group', { name: 'Show devices' });
  await expect(filters.getByRole('button', { name: 'All 75' })).toBeVisible();
  await expect(filters.getByRole('button', { name: 'Rejected 72' })).toBeVisible();
  await expect(owner.getByText('Showing 50 of 75')).toBeVisible();
  await axe(owner, 'first page of 75');
  await shot(owner, 'console-paged');

  // The off-switch names every waiting and rejected device, not the 50 loaded rows.
  await owner.getByRole('switch', { name: 'Require Connect client approval' }).click();
  const off = owner.getByRole('dialog', { name: 'Turn off approval?' });
  await expect(off).toContainText('3 waiting and 72 rejected devices will be able to connect');
  await off.getByRole('button', { name: 'Cancel' }).click();

  // A live change to a loaded row shows at once, and the counts follow; a change to a row beyond
  // the loaded pages does not add it, but counts still follow.
  await gatehouse.api.connect.clients.reject.mutate({ clientProofKeyThumbprint: waiting[0]!.thumbprint });
  await expect(clientRow(owner, waiting[0]!.code)).toContainText('Rejected');
  await expect(filters.getByRole('button', { name: 'Pending 2' })).toBeVisible();
  await expect(filters.getByRole('button', { name: 'Rejected 73' })).toBeVisible();
  await gatehouse.api.connect.clients.revoke.mutate({ clientProofKeyThumbprint: thumbprintOf(500) }); // the oldest rejection: last in order, not loaded
  await expect(filters.getByRole('button', { name: 'Rejected 72' })).toBeVisible();
  await expect(list.getByRole('listitem')).toHaveCount(50);

  // The activity filter finds any device on the server, not only the rows the page holds.
  const activity = owner.getByRole('region', { name: 'Activity' });
  const farCode = verificationCodeOf(thumbprintOf(505)); // "Rejected 5": an old decision, not loaded
  await expect(list.getByRole('listitem').filter({ hasText: farCode })).toHaveCount(0);
  await activity.getByRole('searchbox', { name: 'Find a device' }).fill(farCode);
  await expect(activity.getByRole('status')).toHaveText('1 matching');
  await activity.getByLabel('Device', { exact: true }).selectOption({ label: `Rejected 5 (${farCode})` });
  await expect(activity.getByRole('table')).toContainText(`Rejected 5 (${farCode}) asked to connect`);
  await expect(activity.getByRole('row')).toHaveCount(3); // the header, the ask, the rejection
  await axe(owner, 'activity filtered to a device found on the server');
  await activity.getByLabel('Device', { exact: true }).selectOption({ label: 'All devices' });

  // "Show more" loads the next page after the last row held.
  await owner.getByRole('button', { name: 'Show 24 more' }).click();
  await expect(list.getByRole('listitem')).toHaveCount(74);
  await expect(owner.getByRole('button', { name: /^Show \d+ more$/ })).toHaveCount(0);
  expect(await rowTitles(owner)).toEqual((await gatehouse.api.connect.clients.list.query({ limit: 500 })).items.map((c) => c.client.label));

  // The search and the status filter are the server's: a match far down the list is found.
  const search = owner.getByRole('searchbox', { name: 'Search devices' });
  await search.fill('Rejected 1');
  await expect(list.getByRole('listitem')).toHaveCount(11); // Rejected 1, 10–19
  await expect(filters.getByRole('button', { name: 'All 11' })).toBeVisible();
  await search.fill('');
  await filters.getByRole('button', { name: 'Pending 2' }).click();
  await expect(list.getByRole('listitem')).toHaveCount(2);
  await filters.getByRole('button', { name: 'All 74' }).click();

  // 60 more ask; the page holds the first 50 pending; "Reject all pending" rejects all 62.
  for (let n = 0; n < 60; n++) ask(gatehouse, 700 + n, `New ${n}`);
  await owner.reload();
  await expect(list.getByRole('listitem')).toHaveCount(50);
  await expect(list.getByRole('listitem').filter({ hasText: 'Pending' })).toHaveCount(50);
  await owner.getByRole('button', { name: 'Reject all pending (62)' }).click();
  const dialog = owner.getByRole('dialog', { name: 'Reject 62 devices?' });
  await expect(dialog).toContainText('including those not loaded on this page');
  await axe(owner, 'reject-all dialog, paged');
  await dialog.getByRole('button', { name: 'Reject 62 devices' }).click();
  await expect(owner.getByRole('region', { name: 'Alerts' })).toContainText('Rejected 62 devices.');
  expect((await gatehouse.api.connect.clients.list.query()).counts).toEqual({ pending: 0, approved: 0, rejected: 134 });
  await expect(filters.getByRole('button', { name: 'Rejected 134' })).toBeVisible();
  await expect(owner.getByRole('button', { name: /^Reject all pending/ })).toHaveCount(0);
  await expect(list.getByRole('listitem').filter({ hasText: 'Pending' })).toHaveCount(0);
});

test('the details view shows the software a /device page reported', async ({ owner, gatehouse, openDevice }) => {
  await owner.setViewportSize({ width: 1280, height: 900 });
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const device = await openDevice();
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(device.page); // Connect signs in at the account issuer first
  await expect(device.page.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  const row = clientRow(owner, device.code);
  await expect(row).toBeVisible();
  const title = await row.getByRole('heading', { level: 3 }).textContent();
  await row.getByRole('button', { name: `Details of ${title}` }).click();
  await expect(row).toContainText(`Client version${gatehouseSoftware('web')}`);
});

test('a reconnect that cannot resume opens with a fresh summary, and the page reloads the rows it holds', async ({ owner, gatehouse, allowConsole }) => {
  allowConsole(/ERR_INCOMPLETE_CHUNKED_ENCODING.*access\.events/);
  await owner.setViewportSize({ width: 1280, height: 900 });
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const gone = ask(gatehouse, 801, 'Revoked while away');
  await expect(clientRow(owner, gone.code)).toBeVisible();
  const filters = owner.getByRole('group', { name: 'Show devices' });
  await expect(filters.getByRole('button', { name: 'Pending 1' })).toBeVisible();

  // The reconnect is held while more happens than the server keeps to resume from.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reconnecting!: () => void;
  const reconnectAsked = new Promise<void>((resolve) => (reconnecting = resolve));
  await owner.route(/\/trpc\/access\.events/, async (route) => {
    reconnecting();
    await released;
    await route.continue();
  });
  gatehouse.dropConnections();
  await reconnectAsked;
  await expect(owner.getByText('Live updates paused')).toBeVisible();
  const missed = ask(gatehouse, 802, 'Asked while away');
  await gatehouse.api.connect.clients.revoke.mutate({ clientProofKeyThumbprint: gone.thumbprint });
  // Past the bus's history (2,000 events): the missed changes can no longer be replayed.
  for (let i = 0; i < 2001; i++) gatehouse.env.deps.bus.publish({ type: 'connectSecurityModeUpdated', payload: { mode: 'client-approval' } });
  release();
  await expect(owner.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  await expect(clientRow(owner, missed.code)).toContainText('Pending');
  await expect(clientRow(owner, gone.code)).toHaveCount(0);
  await expect(filters.getByRole('button', { name: 'Pending 1' })).toBeVisible();
  expect(await rowTitles(owner)).toEqual(['Asked while away']);
  // It asked to resume, and could not: the rows came from the reload, not from missed events.
  expect(gatehouse.resumedEventIds).toHaveLength(1);
  expect(gatehouse.env.deps.bus.since(gatehouse.env.deps.bus.parseEventId(gatehouse.resumedEventIds[0])!)).toBeNull();
});

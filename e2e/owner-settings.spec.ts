import { clientRow, expect, test } from './fixtures';

test('1 · the login link lands on Connections, and the approval switch persists across reload', async ({ openPage, gatehouse, shot }) => {
  const page = await openPage();
  await page.goto(gatehouse.env.loginUrl());
  await expect(page).toHaveURL(/\/settings\/connections$/);
  await expect(page.getByRole('heading', { name: 'Connections', level: 1 })).toBeVisible();

  const approval = page.getByRole('switch', { name: 'Require Connect client approval' });
  await expect(approval).toBeEnabled();
  await expect(approval).not.toBeChecked();
  await shot(page, 'connections-empty-account');
  await approval.click();
  // Turning approval on previews who would be cut off first (issue 17 item 3): nobody here.
  const preview = page.getByRole('dialog', { name: 'Require approval?' });
  await expect(preview).toContainText('No unapproved device is connected now');
  await preview.getByRole('button', { name: 'Require approval' }).click();
  await expect(approval).toBeChecked();
  await expect(page.getByText('Each new device must be approved here')).toBeVisible();

  await page.reload();
  await expect(approval).toBeEnabled();
  await expect(approval).toBeChecked();
  expect(await gatehouse.api.connect.securityMode.get.query()).toEqual({ mode: 'client-approval' });
  await expect(page.getByRole('cell', { name: 'Changed the security mode from account access to client approval' })).toBeVisible();
});

test('1b · without an owner session the page says how to sign in, and shows nothing else', async ({ openPage }) => {
  const page = await openPage();
  await page.goto('/settings/connections');
  await expect(page.getByRole('heading', { name: 'Sign in as the owner' })).toBeVisible();
  await expect(page.getByRole('switch')).toHaveCount(0);
  await expect(page.getByRole('status').filter({ hasText: 'Signed out' })).toBeVisible();
});

test('5 · one shared guard: a double-click on Approve and a click on another row’s Reject send exactly one mutation', async ({ owner, gatehouse, shot }) => {
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const laptop = await gatehouse.askFromNode({ label: 'Work laptop' });
  const tablet = await gatehouse.askFromNode({ label: 'Kitchen tablet', deviceType: 'tablet', os: 'Android' });
  const laptopRow = clientRow(owner, laptop.code);
  const tabletRow = clientRow(owner, tablet.code);
  await expect(laptopRow).toContainText('Work laptop');
  await expect(tabletRow).toContainText('Tablet · Android');

  // Every decision operation that leaves the page (a batched URL would name several).
  const sent: string[] = [];
  owner.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (!path.startsWith('/trpc/')) return;
    sent.push(...path.slice('/trpc/'.length).split(',').filter((op) => /^connect\.clients\.(approve|reject|revoke)$/.test(op)));
  });
  // Hold the first decision on the wire until the test lets it through.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await owner.route(/\/trpc\/connect\.clients\.(approve|reject|revoke)/, async (route) => {
    await released;
    await route.continue();
  });

  // Two clicks on Approve and one on the other row's Reject, in one task: nothing re-renders in
  // between, so only the synchronous guard can stop the second and third mutation.
  const approve = laptopRow.getByRole('button', { name: 'Approve' });
  const reject = await tabletRow.getByRole('button', { name: 'Reject' }).elementHandle();
  await approve.evaluate((approveButton: HTMLElement, rejectButton) => {
    approveButton.click();
    approveButton.click();
    (rejectButton as HTMLElement).click();
  }, reject);

  await expect.poll(() => sent).toEqual(['connect.clients.approve']);
  await expect(laptopRow.getByRole('button', { name: 'Approving… Work laptop' })).toBeVisible();
  // Reject asks first (issue 17 item 4): the click opened its confirmation, which sends nothing.
  const confirm = owner.getByRole('dialog', { name: 'Reject Kitchen tablet?' });
  await expect(confirm).toBeVisible();
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  // Decision buttons stay focusable while one runs (aria-disabled, so focus is never dropped).
  const rowButtons = owner.getByRole('list', { name: 'Connect clients' }).locator('button[data-decision]');
  await expect(rowButtons).toHaveCount(6);
  for (const button of await rowButtons.all()) await expect(button).toHaveAttribute('aria-disabled', 'true');
  await shot(owner, 'connections-decision-running');

  release();
  await expect(laptopRow).toContainText('Approved');
  await expect(tabletRow.getByRole('button', { name: 'Reject' })).not.toHaveAttribute('aria-disabled', 'true');
  expect(sent).toEqual(['connect.clients.approve']);
  const clients = (await gatehouse.api.connect.clients.list.query()).items;
  expect(clients.map((c) => [c.client.label, c.status])).toEqual([
    ['Kitchen tablet', 'pending'],
    ['Work laptop', 'approved'],
  ]);

  // Settled: the guard lets the next decision through.
  await tabletRow.getByRole('button', { name: 'Reject' }).click();
  await owner.getByRole('dialog', { name: 'Reject Kitchen tablet?' }).getByRole('button', { name: 'Reject Kitchen tablet' }).click();
  await expect(tabletRow).toContainText('Rejected just now');
  expect(sent).toEqual(['connect.clients.approve', 'connect.clients.reject']);
});

test('5b · a decision on a row revoked elsewhere fails loudly: toast and inline message', async ({ owner, gatehouse, allowConsole }) => {
  allowConsole(/status of 404/);
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const phone = await gatehouse.askFromNode({ label: 'Old phone', deviceType: 'mobile', os: 'Android' });
  const row = clientRow(owner, phone.code);
  await expect(row).toBeVisible();
  // The API revokes it just as the page's Approve is on its way.
  await owner.route(/\/trpc\/connect\.clients\.approve/, async (route) => {
    await gatehouse.api.connect.clients.revoke.mutate({ clientProofKeyThumbprint: phone.thumbprint });
    await route.continue();
  });
  await row.getByRole('button', { name: 'Approve' }).click();
  const message = `Could not approve Old phone: No active Connect client found for ${phone.thumbprint}.`;
  await expect(owner.getByRole('region', { name: 'Alerts' }).getByRole('alert')).toContainText(message);
  const devices = owner.getByRole('region', { name: /^Devices/ });
  await expect(devices.getByRole('alert')).toContainText(message);
  await expect(row).toHaveCount(0);
});

test('6 · the switch is disabled until the first snapshot; an unreadable mode offers recovery that works', async ({ openPage, gatehouse, shot }) => {
  const page = await openPage();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(/\/trpc\/access\.events/, async (route) => {
    await released;
    await route.continue();
  });
  await page.goto(gatehouse.env.loginUrl());
  await expect(page).toHaveURL(/\/settings\/connections$/);
  const approval = page.getByRole('switch', { name: 'Require Connect client approval' });
  await expect(approval).toBeDisabled();
  await expect(page.getByText('Checking the current setting…')).toBeVisible();
  await shot(page, 'connections-before-snapshot');
  release();
  await expect(approval).toBeEnabled();
  await expect(approval).not.toBeChecked();
  await page.unroute(/\/trpc\/access\.events/);

  gatehouse.corruptSecurityMode();
  await page.reload();
  await expect(page.getByText(/The stored Connect security mode "weird" is not a known mode/)).toBeVisible();
  await expect(approval).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Use account access' })).toBeVisible();
  await shot(page, 'connections-mode-unreadable');
  await page.getByRole('button', { name: 'Require approval' }).click();
  await expect(approval).toBeEnabled();
  await expect(approval).toBeChecked();
  await expect(page.getByRole('button', { name: 'Use account access' })).toHaveCount(0);
  expect(await gatehouse.api.connect.securityMode.get.query()).toEqual({ mode: 'client-approval' });
  // A working switch again: off (after its confirmation), and it stays off.
  await approval.click();
  await page.getByRole('dialog', { name: 'Turn off approval?' }).getByRole('button', { name: 'Turn off approval' }).click();
  await expect(approval).not.toBeChecked();
  await page.reload();
  await expect(approval).toBeEnabled();
  await expect(approval).not.toBeChecked();
});

test('7 · changes made outside the page (API, CLI, a device asking) show up live', async ({ owner, gatehouse, shot }) => {
  // Opt in to browser notifications; a stand-in records what the page would show.
  await owner.evaluate(() => {
    const shown: string[] = [];
    (window as unknown as { shownNotifications: string[] }).shownNotifications = shown;
    class RecordingNotification {
      static permission = 'granted';
      static requestPermission = async () => 'granted';
      constructor(title: string, options?: { body?: string }) {
        shown.push(`${title}: ${options?.body ?? ''}`);
      }
    }
    Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true });
  });
  const notify = owner.getByRole('button', { name: 'Notify me of new devices' });
  await notify.click();
  await expect(owner.getByRole('button', { name: 'Notifications on' })).toHaveAttribute('aria-pressed', 'true');

  const approval = owner.getByRole('switch', { name: 'Require Connect client approval' });
  await expect(approval).not.toBeChecked();
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  await expect(approval).toBeChecked();

  const desk = await gatehouse.askFromNode({ label: 'Desk PC', os: 'Windows' });
  const row = clientRow(owner, desk.code);
  await expect(row).toContainText('Pending');
  await expect(owner.getByRole('navigation', { name: 'Main' }).getByLabel('1 pending')).toBeVisible();
  await expect(owner).toHaveTitle('(1) Connections · Gatehouse');
  await expect
    .poll(() => owner.evaluate(() => (window as unknown as { shownNotifications: string[] }).shownNotifications))
    .toEqual([`A device wants to connect: Desk PC · verification code ${desk.code}`]);

  // `--`: a thumbprint (base64url) may start with '-', which would read as an option.
  expect(await gatehouse.cli('connect', 'security', 'approve', '--', desk.thumbprint.slice(0, 10))).toContain('Approved');
  await expect(row).toContainText('Approved');
  await expect(owner.getByRole('navigation', { name: 'Main' }).getByLabel(/pending/)).toHaveCount(0);

  const activity = owner.getByRole('region', { name: 'Activity' });
  await expect(activity.getByRole('row').filter({ hasText: `Approved Desk PC (${desk.code})` })).toContainText('CLI');
  await expect(activity.getByRole('row').filter({ hasText: 'Changed the security mode from account access to client approval' })).toContainText('API');
  await shot(owner, 'connections-live-from-cli');

  await gatehouse.api.connect.clients.revoke.mutate({ clientProofKeyThumbprint: desk.thumbprint });
  await expect(row).toHaveCount(0);
  await expect(activity.getByRole('row').filter({ hasText: 'Revoked Desk PC' })).toContainText('API');
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'account' });
  await expect(approval).not.toBeChecked();
});

test('7b · a dropped event stream resumes from its last event id and catches up on what it missed', async ({ owner, gatehouse, shot, allowConsole }) => {
  // Chromium reports the cut stream itself.
  allowConsole(/ERR_INCOMPLETE_CHUNKED_ENCODING.*access\.events/);
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const approval = owner.getByRole('switch', { name: 'Require Connect client approval' });
  await expect(approval).toBeChecked();
  expect(gatehouse.resumedEventIds).toEqual([]);

  // Hold the reconnect so that a change lands while the page is not listening.
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
  await expect(owner.getByRole('status').filter({ hasText: 'Reconnecting…' })).toBeVisible();
  await shot(owner, 'connections-reconnecting');

  const missed = await gatehouse.askFromNode({ label: 'Asked while away' });
  release();
  await expect(clientRow(owner, missed.code)).toContainText('Pending');
  await expect(owner.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  await expect(owner.getByText('Live updates paused')).toHaveCount(0);
  // It resumed after the mode change it had already seen: an id of this server's life, not a fresh snapshot.
  expect(gatehouse.resumedEventIds).toEqual([`${gatehouse.env.deps.bus.bootId}.1`]);
});

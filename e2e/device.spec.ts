import { REJECTED_DETAIL } from '../shared/client/errors';
import { clientRow, expect, signInAtProvider, test } from './fixtures';

test.beforeEach(async ({ gatehouse }) => {
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
});

test('2 · a device asks, its row appears live with the same code, and Approve connects it without reload', async ({ owner, openDevice, shot }) => {
  const device = await openDevice();
  await expect(device.page.getByRole('heading', { name: 'Not connected' })).toBeVisible();
  await shot(device.page, 'device-1-ready');

  await device.page.getByRole('button', { name: 'Connect' }).click();
  // Connect first signs in at the account issuer, then goes on by itself.
  await signInAtProvider(device.page);
  await expect(device.page.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();
  await expect(device.page.getByRole('group', { name: 'Account' })).toContainText('Signed in as owner');
  await shot(device.page, 'device-2-waiting');

  const row = clientRow(owner, device.code);
  await expect(row).toBeVisible();
  await expect(row.getByRole('heading', { name: 'Chrome on Linux' })).toBeVisible();
  await expect(row).toContainText('Pending');
  await expect(row).toContainText('Desktop · Linux');
  await expect(row).toContainText('Requested just now');
  await expect(owner.getByRole('navigation', { name: 'Main' }).getByLabel('1 pending')).toBeVisible();
  await shot(owner, 'connections-pending');

  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(row).toContainText('Approved');
  await expect(device.page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  await expect(device.page.getByText('environment:use')).toBeVisible();
  await expect(row).toContainText(/Last connected just now/);
  await expect(owner.getByRole('navigation', { name: 'Main' }).getByLabel(/pending/)).toHaveCount(0);
  await shot(device.page, 'device-3-connected');
  await shot(owner, 'connections-approved');
});

test('3 · Reject shows the rejected message on the device; approving later lets it connect (phone)', async ({ owner, openDevice, shot }) => {
  const device = await openDevice({ phone: true });
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(device.page);
  await expect(device.page.getByRole('heading', { name: 'Waiting for approval…' })).toBeVisible();

  const row = clientRow(owner, device.code);
  // A phone-sized touch browser describes itself as a mobile device.
  await expect(row).toContainText('Mobile · Android');
  await row.getByRole('button', { name: 'Reject' }).click();
  // Reject asks first; confirming sends it.
  await owner.getByRole('dialog').getByRole('button', { name: /^Reject / }).click();
  await expect(row).toContainText('Rejected just now');
  await expect(device.page.getByText(REJECTED_DETAIL, { exact: true })).toBeVisible();
  await shot(device.page, 'device-4-rejected-phone');
  await shot(owner, 'connections-rejected');
  await owner.setViewportSize({ width: 390, height: 844 });
  await shot(owner, 'connections-rejected-phone-width');
  await owner.setViewportSize({ width: 1280, height: 800 });

  await expect(row.getByRole('button', { name: 'Reject' })).toHaveCount(0);
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(row).toContainText('Approved');
  await device.page.getByRole('button', { name: 'Try again' }).click();
  await expect(device.page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  await shot(device.page, 'device-5-connected-phone');
});

test('4 · revoking a connected device shows "Access revoked" on it within a second', async ({ owner, openDevice, gatehouse, shot }) => {
  const device = await openDevice();
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await signInAtProvider(device.page);
  const row = clientRow(owner, device.code);
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(device.page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();

  // The key survives a reload (IndexedDB), the sign-in too (this tab's session storage): same code,
  // and an approved key connects at once, without the provider's page.
  await device.page.reload();
  await expect(device.page.getByLabel(`Verification code ${device.code}`)).toBeVisible();
  await device.page.getByRole('button', { name: 'Connect' }).click();
  await expect(device.page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();

  await row.getByRole('button', { name: 'Revoke' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: /^Revoke / }).click();
  await expect(device.page.getByRole('heading', { name: 'Access revoked' })).toBeVisible({ timeout: 1_000 });
  await expect(row).toHaveCount(0);
  await expect(owner.getByRole('status').filter({ hasText: /Revoked Chrome on Linux and ended 2 sessions/ })).toBeVisible();
  expect((await gatehouse.api.connect.clients.list.query()).items).toEqual([]);
  await shot(device.page, 'device-6-revoked');
});

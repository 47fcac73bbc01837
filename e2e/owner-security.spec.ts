import { clientRow, expect, test } from './fixtures';

test('S56 · a label with a bidi override shows as its visible text, isolated in <bdi>, and cannot pose as another device', async ({ owner, gatehouse }) => {
  await gatehouse.api.connect.securityMode.set.mutate({ mode: 'client-approval' });
  const spoof = await gatehouse.askFromNode({ label: 'Owner \u202Eenohp-s’nalA\u202C laptop', os: 'Linux\u200F\u2066' });
  const row = clientRow(owner, spoof.code);
  const title = row.getByRole('heading', { level: 3 });
  await expect(title).toHaveText('Owner enohp-s’nalA laptop');
  await expect(title.locator('bdi')).toHaveText('Owner enohp-s’nalA laptop');
  expect(await title.evaluate((h) => /[\u202A-\u202E\u2066-\u2069\u200E\u200F]/.test(h.textContent ?? ''))).toBe(false);
  await expect(row.locator('dd bdi')).toHaveText('Linux');
});

test('S63 · Sign out ends the owner session: the page shows the sign-in notice, and a reload stays signed out', async ({ owner, gatehouse }) => {
  const signOut = owner.getByRole('button', { name: 'Sign out' });
  await expect(owner.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  const cookie = (await owner.context().cookies()).find((c) => c.name === 'gatehouse_owner')!;
  await signOut.click();
  await expect(owner.getByRole('heading', { name: 'Sign in as the owner' })).toBeVisible();
  await expect(owner.getByRole('button', { name: 'Sign out' })).toHaveCount(0);
  expect((await owner.context().cookies()).some((c) => c.name === 'gatehouse_owner')).toBe(false);
  await owner.reload();
  await expect(owner.getByRole('heading', { name: 'Sign in as the owner' })).toBeVisible();
  // The old cookie, replayed by hand, is dead on the server too.
  const replay = await fetch(`${gatehouse.env.publicUrl}/trpc/connect.clients.list`, { headers: { cookie: `gatehouse_owner=${cookie.value}` } });
  expect(replay.status).toBe(401);
});

import { expect, test } from './fixtures';

test('login · a used or bogus link says why, shows the command as code (no backticks), and links back', async ({ openPage, gatehouse, allowConsole, shot }) => {
  allowConsole(/401/);
  const page = await openPage();
  const link = gatehouse.env.loginUrl();
  // Use the link once, elsewhere: opening it again is the newcomer's "expired or already used".
  const code = new URL(link).hash.slice('#code='.length);
  const used = await fetch(`${gatehouse.env.publicUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: gatehouse.env.publicUrl }, body: JSON.stringify({ code }) });
  expect(used.status).toBe(200);

  await page.goto(link);
  const status = page.getByRole('status');
  await expect(status).toHaveText('This login link is invalid, expired or already used. Get a new one with npx gatehouse owner login-url.');
  await expect(status.locator('code')).toHaveText('npx gatehouse owner login-url');
  await expect(status).not.toContainText('`');
  expect(page.url()).not.toContain(code); // the code left the address bar
  await shot(page, 'login-invalid');

  await page.getByRole('link', { name: 'Back to the settings page' }).click();
  await expect(page).toHaveURL(/\/settings\/connections$/);
  await expect(page.getByRole('heading', { name: 'Sign in as the owner' })).toBeVisible();
});

test('login · a link without a code says how to get one, and a fresh link still signs in', async ({ openPage, gatehouse }) => {
  const page = await openPage();
  await page.goto('/login');
  await expect(page.getByRole('status')).toHaveText('No login code here. Sign in with a passkey on the settings page, or get a new link with npx gatehouse owner login-url on the machine that runs the environment.');
  await expect(page.getByRole('status').locator('code')).toHaveText('npx gatehouse owner login-url');
  await expect(page.getByRole('link', { name: 'Back to the settings page' })).toBeVisible();

  await page.goto(gatehouse.env.loginUrl());
  await expect(page).toHaveURL(/\/settings\/connections$/);
  await expect(page.getByRole('heading', { name: 'Connections', level: 1 })).toBeVisible();
});

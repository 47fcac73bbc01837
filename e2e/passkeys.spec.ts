// Passkeys in Debian's Chromium with a CDP virtual authenticator (SPEC §14, S60): register on the
// settings page, step-up on approve, sign in with the passkey, a refused step-up, a removed passkey.
// The environment listens on 127.0.0.1 and calls itself http://localhost:<port>, as `gatehouse start` does (an IP address is no WebAuthn RP id), with a
// manual clock, so "5 minutes later" needs no waiting.
import type { CDPSession, Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualClock } from '../server/common/clock';
import { requestClient } from '../server/env/connect/client-requests.service';
import { verificationCodeOf } from '../server/env/connect/client-view';
import { findActiveClient } from '../server/env/connect/clients.service';
import { setSecurityMode } from '../server/env/connect/security-mode.service';
import { startEnvironment, type EnvRuntime } from '../server/env/env-app';
import { STEP_UP_WINDOW_MS } from '../server/env/owner/step-up';
import { startReceiver } from '../server/env/webhooks/webhook-receiver.testing';
import { expect, test } from './fixtures';

const thumbprint = (n: number) => `pk${String(n).padStart(6, '0')}`.padEnd(43, 'Q');

async function addAuthenticator(page: Page): Promise<{ cdp: CDPSession; id: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, id: authenticatorId };
}

let env: EnvRuntime;
let dir: string;
const clock = manualClock(Date.now());
test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-passkeys-'));
  env = await startEnvironment({ dataDir: dir, publicHost: 'localhost', port: 0, tunnel: false, clock, allowPrivateWebhooks: true });
  setSecurityMode(env.deps, 'client-approval', 'cli');
});
test.afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('passkey: register, step-up on approve, sign in with it, a refused step-up, a removed passkey refused', async ({ page, shot }) => {
  test.setTimeout(120_000); // one long journey through several ceremonies on a shared 2-core machine
  expect(env.publicUrl).toMatch(/^http:\/\/localhost:\d+$/);
  const stepUps: string[] = [];
  page.on('request', (r) => void (r.url().includes('owner.stepUp.verify') && stepUps.push(r.url())));
  await page.goto(env.loginUrl());
  await expect(page.getByRole('heading', { name: 'Connections', level: 1 })).toBeVisible();
  const { cdp, id } = await addAuthenticator(page);

  // Register.
  const passkeys = page.getByRole('region', { name: 'Passkeys' });
  await passkeys.getByLabel('Passkey name').fill('Test laptop');
  await passkeys.getByRole('button', { name: 'Register a passkey' }).click();
  await expect(passkeys.getByText('Passkey “Test laptop” registered.')).toBeVisible();
  await expect(passkeys.getByRole('list', { name: 'Passkeys' })).toContainText('Test laptop');

  // Five minutes later, approving asks for the passkey (the virtual authenticator answers) and goes through.
  requestClient(env.deps, { clientProofKeyThumbprint: thumbprint(1), accountId: 'owner', client: { label: 'Phone' } });
  const row = page.getByRole('list', { name: 'Connect clients' }).getByRole('listitem').filter({ hasText: verificationCodeOf(thumbprint(1)) });
  await expect(row).toBeVisible();
  clock.advance(STEP_UP_WINDOW_MS + 1000);
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect.poll(() => findActiveClient(env.deps.db, thumbprint(1))?.status).toBe('approved');
  expect(stepUps).toHaveLength(1);

  // Creating an invite and adding a webhook are dangerous too: later, each asks for the passkey once and goes through.
  clock.advance(STEP_UP_WINDOW_MS + 1000);
  const invites = page.getByRole('region', { name: 'Invites' });
  await invites.getByLabel('Label').fill('for the kitchen');
  await invites.getByRole('button', { name: 'Create invite' }).click();
  await expect(invites.getByRole('group', { name: 'New invite' })).toContainText('Invite “for the kitchen”');
  expect(stepUps).toHaveLength(2);
  clock.advance(STEP_UP_WINDOW_MS + 1000);
  const webhooks = page.getByRole('region', { name: 'Webhooks' });
  await webhooks.getByLabel('Webhook URL').fill('http://127.0.0.1:9/gatehouse'); // private targets are allowed in this spec's environment
  await webhooks.getByRole('button', { name: 'Add webhook' }).click();
  await expect(webhooks.getByRole('status').filter({ hasText: 'Signing secret for' })).toBeVisible();
  expect(stepUps).toHaveLength(3);
  await expect(webhooks.getByRole('list', { name: 'Webhooks' })).toContainText('http://127.0.0.1:9/gatehouse');
  await shot(page, 'passkeys-and-webhook');
  await webhooks.getByRole('button', { name: 'Remove' }).click(); // removing one is safe: no passkey asked
  await expect(webhooks.getByText('No webhooks yet.')).toBeVisible();

  // Sign out, then in again with the passkey alone.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in as the owner' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await expect(page.getByRole('heading', { name: 'Connections', level: 1 })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Passkeys' })).toContainText('Test laptop');

  // A stale step-up is refused: later still, an authenticator that cannot verify the user does not count.
  requestClient(env.deps, { clientProofKeyThumbprint: thumbprint(2), accountId: 'owner', client: { label: 'Tablet' } });
  const row2 = page.getByRole('list', { name: 'Connect clients' }).getByRole('listitem').filter({ hasText: verificationCodeOf(thumbprint(2)) });
  await expect(row2).toBeVisible();
  clock.advance(STEP_UP_WINDOW_MS + 1000);
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId: id, isUserVerified: false });
  await row2.getByRole('button', { name: 'Approve' }).click();
  // The server refused the stale session (step_up_required) and the browser could give no verification.
  await expect(page.getByRole('region', { name: /^Devices/ }).getByRole('alert')).toContainText('Could not approve Tablet');
  expect(findActiveClient(env.deps.db, thumbprint(2))?.status).toBe('pending');
  expect(stepUps).toHaveLength(3);
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId: id, isUserVerified: true });

  // Remove the passkey (a fresh step-up first), sign out: the authenticator still holds it, the environment refuses it.
  await page.getByRole('button', { name: 'Remove Test laptop' }).click();
  await expect(page.getByRole('region', { name: 'Passkeys' }).getByText('No passkeys yet.')).toBeVisible();
  expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId: id })).credentials).toHaveLength(1);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await expect(page.getByRole('alert')).toContainText(/No passkey is registered|not accepted/);
  await expect(page.getByRole('heading', { name: 'Sign in as the owner' })).toBeVisible();
});

test('a Slack message when a device waits: click through, verify with the passkey, approve', async ({ page }) => {
  test.setTimeout(120_000);
  const receiver = await startReceiver();
  try {
    const stepUps: string[] = [];
    page.on('request', (r) => void (r.url().includes('owner.stepUp.verify') && stepUps.push(r.url())));
    await page.goto(env.loginUrl());
    await addAuthenticator(page);
    const passkeys = page.getByRole('region', { name: 'Passkeys' });
    await passkeys.getByLabel('Passkey name').fill('Desk');
    await passkeys.getByRole('button', { name: 'Register a passkey' }).click();
    await expect(passkeys.getByText('Passkey “Desk” registered.')).toBeVisible();

    const hooks = page.getByRole('region', { name: 'Webhooks' });
    await expect(hooks).toContainText('Webhooks reach you even when this page is closed');
    await hooks.getByLabel('Webhook URL').fill(receiver.url);
    await hooks.getByLabel('Format').selectOption('slack');
    await hooks.getByRole('button', { name: 'Add webhook' }).click();
    await expect(hooks.getByRole('status').filter({ hasText: 'shown only now' })).toContainText('whsec_');
    await hooks.getByRole('button', { name: 'I saved it' }).click();
    await expect(hooks.getByText('whsec_')).toHaveCount(0);
    await hooks.getByRole('button', { name: 'Send test' }).click();
    await expect(hooks.getByText('Test delivered (HTTP 204).')).toBeVisible();

    requestClient(env.deps, { clientProofKeyThumbprint: thumbprint(3), accountId: 'owner', client: { label: 'Garden laptop' } });
    await expect.poll(() => receiver.received.map((r) => r.body).find((b) => b.includes('Garden laptop')) ?? null).not.toBeNull();
    const slack = JSON.parse(receiver.received.find((r) => r.body.includes('Garden laptop'))!.body) as { text: string };
    expect(slack.text).toContain('is waiting for your approval');
    const link = /<(http[^|>]+)\|Open in Gatehouse>/.exec(slack.text)![1]!;
    expect(link).toBe(`${env.publicUrl}/settings/connections#client-${thumbprint(3)}`);

    await hooks.getByRole('button', { name: 'Deliveries' }).click();
    await expect(hooks.getByRole('table', { name: 'Deliveries' })).toContainText('client.pending');

    await page.goto(link);
    const row = page.locator(`[id="client-${thumbprint(3)}"]`);
    await expect(row).toContainText('Garden laptop');
    clock.advance(STEP_UP_WINDOW_MS + 1000);
    await row.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => findActiveClient(env.deps.db, thumbprint(3))?.status).toBe('approved');
    expect(stepUps).toHaveLength(1);
  } finally {
    await receiver.close();
  }
});

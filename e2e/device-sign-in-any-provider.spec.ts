// "Any provider" in Chromium (SPEC §15): a separately started `oidc-provider` with its own client
// configuration, its own login and consent pages; the relay started with --account-issuer and
// --account-audience. The /device page signs in there (code + PKCE, oauth4webapi) and connects; the
// environment's CSP lets the page reach that provider and nothing else. A cancel there comes back
// as a clear refusal.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import Provider from 'oidc-provider';
import { expect, test } from '@playwright/test';
import { startEnvironment, type EnvRuntime } from '../server/env/env-app';
import { listenOnLoopback, type TestServer } from '../server/identity/testing';
import { startRelay, type RelayRuntime } from '../server/relay/relay-app';

const clientId = `any-${randomBytes(4).toString('hex')}`;
let dataDir: string;
let provider: TestServer;
let signingKey: CryptoKey;
let relay: RelayRuntime;
let env: EnvRuntime;

test.beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-any-'));
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  provider = await listenOnLoopback((req, res) => (handler ? handler(req, res) : res.writeHead(503).end()));
  const issuer = provider.url;
  relay = await startRelay({ dataDir: join(dataDir, 'relay'), port: 0, accountIssuer: { issuer, audience: clientId } });
  env = await startEnvironment({ dataDir: join(dataDir, 'env'), port: 0 });
  relay.allowOrigin(env.publicUrl); // the relay's callback may hand sign-ins on to this page origin

  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  signingKey = privateKey;
  const op = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        // What the README says to register: the CLI's loopback redirect and the relay's browser callback.
        redirect_uris: ['http://127.0.0.1/callback', `${relay.publicUrl}/sign-in/callback`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'es-1', alg: 'ES256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], profile: ['name'] },
    conformIdTokenClaims: false,
    // The token endpoint answers the device page's origin from a browser (CORS), no other.
    clientBasedCORS: (_ctx: unknown, origin: string) => origin === env.publicUrl,
    findAccount: (_ctx: unknown, accountId: string) => ({ accountId, claims: () => ({ sub: accountId, name: accountId === 'owner' ? 'Olivia Owner' : accountId }) }),
  });
  handler = op.callback();

  // The owner links the environment with an ID token of this provider (as `connect link` would).
  const now = Math.floor(Date.now() / 1000);
  const idToken = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).setIssuer(issuer).setAudience(clientId).setSubject('owner').setIssuedAt(now).setExpirationTime(now + 300).sign(signingKey);
  await env.link(relay.publicUrl, idToken);
});

test.afterAll(async () => {
  await env?.close();
  await relay?.close();
  await provider?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the /device page signs in at another OpenID provider (its own login and consent pages) and connects', async ({ page }) => {
  // The environment learns the provider's origins from the relay it linked to: its CSP lets the page
  // reach the relay and the provider (discovery, token endpoint), nothing else.
  await expect
    .poll(async () => (await fetch(`${env.publicUrl}/device`)).headers.get('content-security-policy'))
    .toContain(`connect-src 'self' ${relay.publicUrl} ${provider.url};`);

  const problems: string[] = [];
  page.on('console', (m) => void ((m.type() === 'error' || m.type() === 'warning') && problems.push(`${m.text()} [${m.location().url}]`)));
  page.on('pageerror', (error) => problems.push(error.message));
  // oidc-provider's development pages import a web font: this machine has no internet.
  await page.route('https://fonts.googleapis.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
  const origins = new Set<string>();
  page.on('request', (request) => void (request.url().startsWith('http') && origins.add(new URL(request.url()).origin)));

  await page.goto(`${env.publicUrl}/device`);
  const account = page.getByRole('group', { name: 'Account' });
  await expect(account).toContainText('Not signed in');
  await page.getByRole('button', { name: 'Connect' }).click();

  // The provider's own pages, as a person would use them.
  await expect(page).toHaveURL(new RegExp(`^${provider.url}/interaction/`));
  await page.locator('input[name="login"]').fill('owner');
  await page.locator('input[name="password"]').fill('any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();

  await expect(page).toHaveURL(`${env.publicUrl}/device`);
  await expect(page.getByRole('heading', { name: 'Connected', exact: true })).toBeVisible();
  await expect(account).toContainText(`Signed in as Olivia Owner (owner) at ${new URL(provider.url).host}`);
  expect([...origins].sort()).toEqual([env.publicUrl, relay.publicUrl, provider.url, 'https://fonts.googleapis.com'].sort());

  // Sign out forgets the tokens here; the next Connect goes back to the provider's login page.
  await account.getByRole('button', { name: 'Sign out' }).click();
  await expect(account).toContainText('Not signed in');
  await page.getByRole('button', { name: 'Connect' }).click();
  await expect(page).toHaveURL(new RegExp(`^${provider.url}/interaction/`));
  await expect(page.locator('input[name="login"]')).toBeVisible();

  // The person cancels at the provider: the error comes back through the relay, and the page says so.
  await page.getByRole('link', { name: '[ Cancel ]' }).click();
  await expect(page).toHaveURL(`${env.publicUrl}/device`);
  await expect(page.getByRole('heading', { name: 'Sign-in refused' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Connection' })).toContainText('The account provider did not sign you in: End-User aborted interaction.');
  await expect(account).toContainText('Not signed in');
  expect(problems).toEqual([]);
});

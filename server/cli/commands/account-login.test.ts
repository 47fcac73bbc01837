// `gatehouse login` / `logout` as a person uses them: the real CLI as a child process, the provider's
// pages driven with fetch. The embedded oidc-provider (device grant) and a separately started one
// standing in for "any provider" (no device grant: loopback code + PKCE).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { manualClock } from '../../common/clock';
import { createOidcAccountTokenVerifier, JWKS_REFETCH_COOLDOWN_MS } from '../../identity/account-token';
import { browserDriver } from '../../identity/browser-driver';
import { listenOnLoopback, type TestServer } from '../../identity/testing';
import { startRelay, type RelayRuntime } from '../../relay/relay-app';
import { accountIdToken, readSession, sessionFileOf, signIn } from '../account-session';
import { createOutput } from '../output';
import { startCli } from './cli-testing';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-login-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sink = { write: () => true } as never;
const quiet = createOutput(true, sink, sink);

function expectNoSecrets(text: string, secrets: string[]) {
  for (const secret of secrets) expect(text).not.toContain(secret);
  expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
}

describe('gatehouse login against the embedded issuer (device authorization grant)', { timeout: 60_000 }, () => {
  let relay: RelayRuntime;
  beforeAll(async () => {
    // ID tokens shorter-lived than the CLI's refresh margin: every later use refreshes.
    relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true, devIssuerIdTokenTtlSeconds: 30 });
  });
  afterAll(() => relay.close());

  it('prints a URL, a code and a QR code; a person enters the code and a username; the poll completes; tokens are 0600 and never printed', async () => {
    const dataDir = join(dir, 'device');
    const login = startCli(['login', '--relay', relay.publicUrl, '--data-dir', dataDir]);
    await vi.waitFor(() => expect(login.stderr()).toMatch(/Waiting for you to finish signing in/), { timeout: 20_000, interval: 50 });
    const userCode = /enter the code:\s+(\S+)/.exec(login.stderr())![1]!;
    const verificationUri = /open this page on any device:\n\s+(\S+)/.exec(login.stderr())![1]!;
    expect(verificationUri).toBe(`${relay.publicUrl}/dev-issuer/device`);
    expect(login.stderr()).toMatch(/[█▀▄]/); // the QR code

    const page = await browserDriver().run(verificationUri, { userCode, username: 'alice' });
    expect(page.html).toContain('Your device is signed in');

    const result = await login.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Signed in as "alice"');
    const session = readSession(dataDir)!;
    expect(session).toMatchObject({ subject: 'alice', relayUrl: relay.publicUrl, issuer: `${relay.publicUrl}/dev-issuer`, clientId: 'gatehouse', refreshToken: expect.any(String) });
    expect((await stat(sessionFileOf(dataDir))).mode & 0o777).toBe(0o600);
    expectNoSecrets(result.stdout + result.stderr, [session.idToken, session.refreshToken!]);
    await expect(relay.deps.accountTokens.verify(session.idToken)).resolves.toMatchObject({ accountId: 'alice' });

    // The ID token is within the refresh margin: the next use refreshes it with the refresh token.
    const refreshed = await accountIdToken(quiet, { dataDir, relay: relay.publicUrl, interactive: false });
    expect(refreshed).not.toBe(session.idToken);
    await expect(relay.deps.accountTokens.verify(refreshed)).resolves.toMatchObject({ accountId: 'alice' });
    const after = readSession(dataDir)!;
    expect(after.idToken).toBe(refreshed);
    expect(after.refreshToken).not.toBe(session.refreshToken); // public client: rotated

    const logout = startCli(['logout', '--data-dir', dataDir]);
    expect(await logout.exited).toMatchObject({ code: 0, stdout: 'Signed out: the account tokens are forgotten here.\n' });
    expect(existsSync(sessionFileOf(dataDir))).toBe(false);
    await expect(accountIdToken(quiet, { dataDir, relay: relay.publicUrl, interactive: false })).rejects.toThrow(
      `Not signed in to ${relay.publicUrl}'s account issuer. Run: npx gatehouse login --relay ${relay.publicUrl}`,
    );
  });
});

describe('gatehouse login against another OpenID provider (loopback code + PKCE)', { timeout: 60_000 }, () => {
  let provider: TestServer;
  let relay: RelayRuntime;
  let issuer: string;
  const clientId = `any-${randomBytes(4).toString('hex')}`;
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  /** The provider, (re)configured with one signing key: a new kid stands for a key rotation at the same issuer. */
  async function configureProvider(kid: string) {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const op = new Provider(issuer, {
      clients: [{ client_id: clientId, application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/callback'], grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' }],
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' }] },
      cookies: { keys: [randomBytes(32).toString('hex')] },
      pkce: { required: () => true },
      findAccount: (_ctx: unknown, accountId: string) => ({ accountId, claims: () => ({ sub: accountId }) }),
    });
    handler = op.callback();
  }
  /** `gatehouse login` through the loopback redirect, the provider's pages played by fetch. */
  async function loopbackLogin(dataDir: string, username: string) {
    const login = startCli(['login', '--relay', relay.publicUrl, '--data-dir', dataDir]);
    await vi.waitFor(() => expect(login.stderr()).toMatch(/in a browser on this machine:\n\s+\S+/), { timeout: 20_000, interval: 50 });
    await browserDriver().run(new URL(/in a browser on this machine:\n\s+(\S+)/.exec(login.stderr())![1]!), { username });
    const result = await login.exited;
    expect(result.code, result.stderr).toBe(0);
    return readSession(dataDir)!;
  }
  beforeAll(async () => {
    provider = await listenOnLoopback((req, res) => (handler ? handler(req, res) : res.writeHead(503).end()));
    issuer = provider.url;
    await configureProvider('es-1');
    relay = await startRelay({ dataDir: join(dir, 'relay-any'), port: 0, accountIssuer: { issuer, audience: clientId } });
  });
  afterAll(async () => {
    await relay.close();
    await provider.close();
  });

  it('publishes the provider and client id; the CLI prints a URL, a person signs in there, the loopback redirect completes', async () => {
    expect(await (await fetch(`${relay.publicUrl}/.well-known/gatehouse-configuration`)).json()).toEqual({ accountIssuer: issuer, clientId, relayIssuer: relay.publicUrl });
    const dataDir = join(dir, 'loopback');
    const login = startCli(['login', '--relay', relay.publicUrl, '--data-dir', dataDir]);
    await vi.waitFor(() => expect(login.stderr()).toMatch(/in a browser on this machine:\n\s+\S+/), { timeout: 20_000, interval: 50 });
    const url = new URL(/in a browser on this machine:\n\s+(\S+)/.exec(login.stderr())![1]!);
    expect(url.origin).toBe(issuer);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(url.searchParams.get('state')).toBeTruthy();

    const back = await browserDriver().run(url, { username: 'carol' });
    expect(back.html).toContain('Signed in to Gatehouse');
    const result = await login.exited;
    expect(result.code, result.stderr).toBe(0);
    const session = readSession(dataDir)!;
    expect(session).toMatchObject({ subject: 'carol', issuer, clientId });
    expect((await stat(sessionFileOf(dataDir))).mode & 0o777).toBe(0o600);
    expectNoSecrets(result.stdout + result.stderr, [session.idToken]);
    expect(readFileSync(sessionFileOf(dataDir), 'utf8')).toContain(session.idToken);

    // The relay accepts it; a relay for another audience, or after expiry, does not.
    await expect(relay.deps.accountTokens.verify(session.idToken)).resolves.toMatchObject({ accountId: 'carol' });
    await expect(createOidcAccountTokenVerifier({ issuer, audience: 'someone-else' }).verify(session.idToken)).rejects.toMatchObject({ message: expect.stringMatching(/audience/) });
    const later = manualClock((session.expiresAt + 61) * 1000);
    await expect(createOidcAccountTokenVerifier({ issuer, audience: clientId, clock: later }).verify(session.idToken)).rejects.toMatchObject({ message: expect.stringMatching(/expired/) });
  });

  it('key rotation: the provider signs with a new kid; the running relay accepts the new token within seconds and drops the old key', async () => {
    const before = await loopbackLogin(join(dir, 'rotate-1'), 'dave');
    expect(decodeProtectedHeader(before.idToken).kid).toBe('es-1');
    await expect(relay.deps.accountTokens.verify(before.idToken)).resolves.toMatchObject({ accountId: 'dave' });

    // An emergency rotation: the old key is withdrawn, a new one (new kid) signs from now on. No relay restart.
    await configureProvider('es-2');
    const after = await loopbackLogin(join(dir, 'rotate-2'), 'dave');
    expect(decodeProtectedHeader(after.idToken).kid).toBe('es-2');
    // The unknown kid makes the relay fetch the key set again (rate-limited to one refetch per couple of seconds).
    await expect
      .poll(() => relay.deps.accountTokens.verify(after.idToken).then((claims) => claims.accountId, (error: Error) => error.message), { timeout: JWKS_REFETCH_COOLDOWN_MS + 3_000 })
      .toBe('dave');
    // The withdrawn key is gone from the relay's key set too.
    await expect(relay.deps.accountTokens.verify(before.idToken)).rejects.toMatchObject({ message: expect.stringMatching(/key/i) });
  });

  it('refuses a callback whose state is not the one it sent (the code is never redeemed)', async () => {
    const dataDir = join(dir, 'bad-state');
    const login = startCli(['login', '--relay', relay.publicUrl, '--data-dir', dataDir]);
    await vi.waitFor(() => expect(login.stderr()).toMatch(/in a browser on this machine:\n\s+\S+/), { timeout: 20_000, interval: 50 });
    const url = new URL(/in a browser on this machine:\n\s+(\S+)/.exec(login.stderr())![1]!);
    const callback = new URL(url.searchParams.get('redirect_uri')!);
    callback.search = new URLSearchParams({ code: 'forged', state: 'not-the-state', iss: issuer }).toString();
    await (await fetch(callback)).text();
    const result = await login.exited;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/sign-in failed/i);
    expect(existsSync(sessionFileOf(dataDir))).toBe(false);
  });
});

describe('the device grant’s edges (RFC 8628 §3.5), against a scripted token endpoint', { timeout: 30_000 }, () => {
  /** A relay and an OpenID provider in one: it answers the polls with `answers`, in order, and notes when each came. */
  async function scriptedProvider(answers: { status: number; body: Record<string, unknown> }[]) {
    const polls: number[] = [];
    let url = '';
    const server = await listenOnLoopback(async (req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
      const path = new URL(req.url ?? '/', url).pathname;
      for await (const _ of req); // drain the body
      if (path === '/.well-known/gatehouse-configuration') return json(200, { accountIssuer: url, clientId: 'scripted', relayIssuer: url });
      if (path === '/.well-known/openid-configuration') {
        return json(200, { issuer: url, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, device_authorization_endpoint: `${url}/device`, jwks_uri: `${url}/jwks`, response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['ES256'] });
      }
      if (path === '/device') return json(200, { device_code: 'dc-1', user_code: 'BCDF-GHJK', verification_uri: `${url}/activate`, expires_in: 120, interval: 1 });
      if (path === '/token') {
        polls.push(performance.now());
        const answer = answers.shift() ?? { status: 400, body: { error: 'expired_token' } };
        return json(answer.status, answer.body);
      }
      json(404, { error: 'not_found' });
    });
    url = server.url;
    return { url, polls, close: () => server.close() };
  }

  it('honours slow_down: the next poll waits the interval plus 5 s; an expired device code then ends with a clear error', async () => {
    const op = await scriptedProvider([
      { status: 400, body: { error: 'authorization_pending' } },
      { status: 400, body: { error: 'slow_down' } },
      { status: 400, body: { error: 'expired_token' } },
    ]);
    try {
      const dataDir = join(dir, 'slow-down');
      await expect(signIn(quiet, { dataDir, relay: op.url })).rejects.toThrow('The sign-in code expired before it was used. Run `gatehouse login` again and finish within the time shown.');
      expect(op.polls).toHaveLength(3);
      const [first, second, third] = op.polls as [number, number, number];
      // authorization_pending keeps the 1 s interval; slow_down makes it 6 s (RFC 8628 §3.5).
      expect(second - first).toBeGreaterThanOrEqual(950);
      expect(second - first).toBeLessThan(5_000);
      expect(third - second).toBeGreaterThanOrEqual(5_950);
      expect(existsSync(sessionFileOf(dataDir))).toBe(false);
    } finally {
      await op.close();
    }
  });

  it('access_denied (the person pressed Cancel at the provider) ends at once with a clear error and saves nothing', async () => {
    const op = await scriptedProvider([{ status: 400, body: { error: 'access_denied', error_description: 'End-User aborted interaction' } }]);
    try {
      const dataDir = join(dir, 'denied');
      await expect(signIn(quiet, { dataDir, relay: op.url })).rejects.toThrow('The sign-in was cancelled at the account issuer. Run `gatehouse login` again to retry.');
      expect(op.polls).toHaveLength(1);
      expect(existsSync(sessionFileOf(dataDir))).toBe(false);
    } finally {
      await op.close();
    }
  });
});

describe('the device grant cancelled by a person at the embedded issuer’s page', { timeout: 60_000 }, () => {
  let relay: RelayRuntime;
  beforeAll(async () => {
    relay = await startRelay({ dataDir: join(dir, 'relay-cancel'), port: 0, devIssuer: true });
  });
  afterAll(() => relay.close());

  it('Cancel on the confirm page makes the CLI stop with "cancelled", and nothing is kept', async () => {
    const dataDir = join(dir, 'cancel');
    const login = startCli(['login', '--relay', relay.publicUrl, '--data-dir', dataDir]);
    await vi.waitFor(() => expect(login.stderr()).toMatch(/Waiting for you to finish signing in/), { timeout: 20_000, interval: 50 });
    const userCode = /enter the code:\s+(\S+)/.exec(login.stderr())![1]!;
    const verificationUri = /open this page on any device:\n\s+(\S+)/.exec(login.stderr())![1]!;
    const page = await browserDriver().run(verificationUri, { userCode, username: 'alice', cancel: true });
    expect(page.html).toContain('Cancelled: the device was not signed in.');
    const result = await login.exited;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The sign-in was cancelled at the account issuer.');
    expect(existsSync(sessionFileOf(dataDir))).toBe(false);
  });
});

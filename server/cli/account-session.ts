// Signing in to the account issuer the relay names (SPEC §15) with openid-client: the device
// authorization grant (RFC 8628) when the provider offers it, else authorization code + PKCE with
// a loopback redirect (RFC 8252). Tokens live in <data-dir>/account-session.json (0600), never printed.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import * as oidc from 'openid-client';
import { z } from 'zod';
import { readTextIfExists, writeSecretFile } from '../common/files';
import { CliError } from './options';
import type { Output } from './output';

const SCOPE = 'openid profile offline_access';
/** A token this close to its expiry is refreshed first: it must still be valid when the relay reads it. */
export const REFRESH_MARGIN_SECONDS = 60;
const LOGIN_TIMEOUT_MS = 10 * 60_000;

const GatehouseConfiguration = z.object({ accountIssuer: z.string().url(), clientId: z.string().min(1).max(256), relayIssuer: z.string() });
const StoredSession = z.object({
  relayUrl: z.string(),
  issuer: z.string(),
  clientId: z.string(),
  idToken: z.string(),
  refreshToken: z.string().optional(),
  /** The ID token's `exp` (seconds). */
  expiresAt: z.number(),
  subject: z.string(),
});
export type StoredSession = z.infer<typeof StoredSession>;

export const sessionFileOf = (dataDir: string) => join(dataDir, 'account-session.json');

export function readSession(dataDir: string): StoredSession | null {
  const text = readTextIfExists(sessionFileOf(dataDir));
  if (text === null) return null;
  try {
    return StoredSession.parse(JSON.parse(text));
  } catch {
    return null; // an unreadable file is as good as none: the next sign-in replaces it
  }
}

export function forgetSession(dataDir: string): boolean {
  const had = readTextIfExists(sessionFileOf(dataDir)) !== null;
  rmSync(sessionFileOf(dataDir), { force: true });
  return had;
}

async function relayConfiguration(relayUrl: string): Promise<z.infer<typeof GatehouseConfiguration>> {
  let res: Response;
  try {
    res = await fetch(`${relayUrl}/.well-known/gatehouse-configuration`, { signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new CliError(`Could not reach the relay at ${relayUrl}. Is it running? Check the --relay URL.`);
  }
  const parsed = GatehouseConfiguration.safeParse(await res.json().catch(() => null));
  if (!res.ok || !parsed.success) throw new CliError(`${relayUrl} did not say which account issuer to sign in with (HTTP ${res.status}). Check the --relay URL.`);
  return parsed.data;
}

async function discover(issuer: string, clientId: string): Promise<oidc.Configuration> {
  try {
    const url = new URL(issuer);
    // Plain http only for a loopback issuer (the embedded development one).
    const insecure = url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    return await oidc.discovery(url, clientId, undefined, oidc.None(), insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
  } catch (error) {
    throw new CliError(`Could not read the account issuer's OpenID configuration at ${issuer} (${error instanceof Error ? error.message : String(error)}).`);
  }
}

function toSession(relayUrl: string, issuer: string, clientId: string, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, previous?: StoredSession): StoredSession {
  const claims = tokens.claims();
  if (!tokens.id_token || !claims) throw new CliError('The account issuer answered without an ID token. Does the client have the "openid" scope?');
  return {
    relayUrl,
    issuer,
    clientId,
    idToken: tokens.id_token,
    ...((tokens.refresh_token ?? previous?.refreshToken) && { refreshToken: tokens.refresh_token ?? previous!.refreshToken! }),
    expiresAt: claims.exp,
    subject: claims.sub,
  };
}

function describeGrantError(error: unknown): CliError {
  const code = error instanceof oidc.ResponseBodyError ? error.error : undefined;
  if (code === 'expired_token') return new CliError('The sign-in code expired before it was used. Run `gatehouse login` again and finish within the time shown.');
  if (code === 'access_denied') return new CliError('The sign-in was cancelled at the account issuer. Run `gatehouse login` again to retry.');
  return new CliError(`The sign-in failed: ${error instanceof Error ? error.message : String(error)}`);
}

/** RFC 8628: show the URL, the code and a QR code; poll at the interval given (openid-client honours slow_down). */
async function deviceGrant(out: Output, config: oidc.Configuration, signal: AbortSignal) {
  const started = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
  const qrcode = await import('qrcode');
  out.note('To sign in, open this page on any device:');
  out.note(`  ${started.verification_uri}`);
  out.note(`and enter the code:  ${started.user_code}`);
  if (started.verification_uri_complete) out.note(await qrcode.toString(started.verification_uri_complete, { type: 'terminal', small: true }));
  out.note(`Waiting for you to finish signing in (the code is valid ${Math.round(started.expires_in / 60)} min)…`);
  try {
    return await oidc.pollDeviceAuthorizationGrant(config, started, undefined, { signal });
  } catch (error) {
    throw describeGrantError(error);
  }
}

/** RFC 8252: a one-shot listener on 127.0.0.1 and any free port; state and PKCE are checked by openid-client. */
async function loopbackGrant(out: Output, config: oidc.Configuration, signal: AbortSignal) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  let settle!: (url: URL) => void;
  const arrived = new Promise<URL>((resolve) => (settle = resolve));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('Signed in to Gatehouse. You can close this page.\n');
    settle(new URL(req.url ?? '/', `http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', () => ok()));
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: SCOPE, state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    out.note('To sign in, open this page in a browser on this machine:');
    out.note(`  ${url.href}`);
    const aborted = new Promise<never>((_, fail) => signal.addEventListener('abort', () => fail(new CliError('The sign-in was not finished in time. Run `gatehouse login` again.')), { once: true }));
    const back = await Promise.race([arrived, aborted]);
    try {
      return await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state });
    } catch (error) {
      throw describeGrantError(error);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** An interactive sign-in: device grant when offered, else loopback code + PKCE. Saves and returns the session. */
export async function signIn(out: Output, opts: { dataDir: string; relay: string }): Promise<StoredSession> {
  const relayUrl = opts.relay.replace(/\/+$/, '');
  const { accountIssuer, clientId } = await relayConfiguration(relayUrl);
  const config = await discover(accountIssuer, clientId);
  const signal = AbortSignal.timeout(LOGIN_TIMEOUT_MS);
  const tokens = config.serverMetadata().device_authorization_endpoint ? await deviceGrant(out, config, signal) : await loopbackGrant(out, config, signal);
  const session = toSession(relayUrl, accountIssuer, clientId, tokens);
  writeSecretFile(sessionFileOf(opts.dataDir), `${JSON.stringify(session)}\n`);
  return session;
}

/**
 * The account ID token for `relay`: the stored one while it is fresh, else refreshed with the refresh
 * token, else a new interactive sign-in when `interactive` (a terminal), else a clear instruction.
 */
export async function accountIdToken(out: Output, opts: { dataDir: string; relay: string; interactive: boolean; nowSeconds?: number }): Promise<string> {
  const relayUrl = opts.relay.replace(/\/+$/, '');
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const stored = readSession(opts.dataDir);
  const usable = stored && stored.relayUrl === relayUrl ? stored : null;
  if (usable && usable.expiresAt - REFRESH_MARGIN_SECONDS > now) return usable.idToken;
  if (usable?.refreshToken) {
    try {
      const config = await discover(usable.issuer, usable.clientId);
      const session = toSession(relayUrl, usable.issuer, usable.clientId, await oidc.refreshTokenGrant(config, usable.refreshToken), usable);
      writeSecretFile(sessionFileOf(opts.dataDir), `${JSON.stringify(session)}\n`);
      return session.idToken;
    } catch {
      out.note('The stored sign-in could not be refreshed; signing in again.');
    }
  }
  if (!opts.interactive) throw new CliError(`Not signed in to ${relayUrl}'s account issuer. Run: npx gatehouse login --relay ${relayUrl}`);
  return (await signIn(out, opts)).idToken;
}

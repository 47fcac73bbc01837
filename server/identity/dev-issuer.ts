import { BodyTooLargeError, readBody, readObjectBody } from '../common/http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { createIssuerStore } from './memory-adapter';
import { systemClock, type Clock } from '../common/clock';
import { DomainError } from '../common/errors';
import { loadOrCreateDevIssuerKey } from './dev-issuer-key';
import { confirmCodePage, errorPage, loginPage, signedInPage, userCodePage } from './dev-issuer-pages';

/**
 * The embedded default's account issuer: panva's certified OpenID provider (`oidc-provider`)
 * configured for development (any username, no password, no consent), loopback callers only.
 */
export interface DevIssuer {
  issuer: string;
  /** The public client every Gatehouse client uses; ID tokens carry it as `aud`. */
  clientId: string;
  audience: string;
  /** The scripted shortcut: an ID token of this same provider (same issuer and key) for `username`. */
  issueIdToken(username: string): Promise<string>;
  /** Serves `subPath` relative to the mount point (e.g. `/jwks` under `/dev-issuer`). */
  handle(req: IncomingMessage, res: ServerResponse, subPath: string): Promise<void>;
  /** Lets one more web origin call the issuer from a browser (an environment that starts later). */
  allowOrigin(origin: string): void;
}

export interface DevIssuerOptions {
  /** The public URL of the mount, e.g. http://127.0.0.1:4200/dev-issuer */
  issuerUrl: string;
  /** The client id (and so the ID tokens' audience). */
  audience: string;
  /** Persist the signing key here (0600); without it the key lives in memory only. */
  keyFile?: string;
  clock?: Clock;
  devMode: boolean;
  /** Web origins (e.g. the env's) whose pages may call the issuer; never `*`. */
  allowedOrigins?: string[];
  /** Origins allowed by rule rather than by list (the relay's per-environment page origins). */
  allowsOrigin?: (origin: string) => boolean;
  /** Redirect URIs besides loopback `http://127.0.0.1/callback` (any port, RFC 8252): the relay's sign-in callback. */
  redirectUris?: string[];
  /** Lifetime of ID tokens (default 600 s); tests shorten it to see refreshes. */
  idTokenTtlSeconds?: number;
}

export const DEV_ID_TOKEN_TTL_SECONDS = 600;
export const MAX_TOKEN_REQUEST_BYTES = 4 * 1024;
/** The CLI's loopback redirect: registered without a port, so any port on 127.0.0.1 or [::1] matches (RFC 8252 §7.3). */
export const LOOPBACK_REDIRECT_PATH = '/callback';
const MAX_LOGIN_FORM_BYTES = 4 * 1024;
const USERNAME = /^[A-Za-z0-9._-]{1,64}$/;
const USERNAME_RULE = 'The username must be 1 to 64 characters of letters, digits, ".", "_" or "-".';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms (::ffff:127.x); false for anything else or garbage. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  // BlockList matches IPv4-mapped IPv6 addresses against the IPv4 rules too.
  return loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export function isValidDevUsername(username: unknown): username is string {
  return typeof username === 'string' && USERNAME.test(username);
}

/** oidc-provider refuses an http redirect URI of a native client unless it is loopback; such a relay gets none. */
function nativeRedirectAllowed(uri: string): boolean {
  const url = new URL(uri);
  return url.protocol === 'https:' ? !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) : ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

export async function createDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  const issuerUrl = parseIssuerUrl(opts.issuerUrl);
  const issuer = opts.issuerUrl;
  const mountPath = issuerUrl.pathname.replace(/\/+$/, '');
  const { audience: clientId, devMode } = opts;
  if (!clientId) throw new TypeError('The dev issuer needs an audience.');
  const clock = opts.clock ?? systemClock;
  const idTokenTtl = opts.idTokenTtlSeconds ?? DEV_ID_TOKEN_TTL_SECONDS;
  const allowedOrigins = new Set((opts.allowedOrigins ?? []).map(parseOrigin));
  const isAllowedOrigin = (origin: string) => allowedOrigins.has(origin) || opts.allowsOrigin?.(origin) === true;
  const key = await loadOrCreateDevIssuerKey(opts.keyFile);

  const store = createIssuerStore();
  const provider = new Provider(issuer, {
    // In memory, but nothing is forgotten before it expires (a replayed proof stays refused).
    adapter: store.Adapter,
    clients: [
      {
        client_id: clientId,
        client_name: 'Gatehouse',
        // Native: loopback redirects match on any port (RFC 8252); the CLI and the browser both are public clients.
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
        response_types: ['code'],
        redirect_uris: [`http://127.0.0.1${LOOPBACK_REDIRECT_PATH}`, `http://[::1]${LOOPBACK_REDIRECT_PATH}`, ...(opts.redirectUris ?? []).filter(nativeRedirectAllowed)],
        id_token_signed_response_alg: 'EdDSA',
      },
    ],
    jwks: { keys: [key.privateJwk] },
    // Sessions and interactions live in memory; their cookies need only outlive this process.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { methods: ['S256'], required: () => true },
    scopes: ['openid', 'offline_access', 'profile'],
    claims: { openid: ['sub'], profile: ['name'] },
    // `name` in the ID token itself: clients show who is signed in without a userinfo call.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****', userCodeInputSource, userCodeConfirmSource, successSource },
    },
    routes: { token: '/oauth/token' }, // `/token` stays the scripted shortcut
    ttl: { IdToken: idTokenTtl, AccessToken: idTokenTtl, AuthorizationCode: 60, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 14 * 24 * 3600, RefreshToken: 14 * 24 * 3600 },
    // Every sign-in gets a refresh token (no offline_access consent dance: there is no consent here).
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${mountPath}/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub, name: sub }) }),
    clientBasedCORS: (_ctx: unknown, origin: string) => isAllowedOrigin(origin) || origin === issuerUrl.origin,
    renderError: async (ctx: KoaContextWithOIDC, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = errorPage(out);
    },
  });
  provider.on('server_error', (_ctx: unknown, error: unknown) => {
    console.error('[gatehouse] dev issuer error:', error instanceof Error ? error.message : String(error));
  });
  const callback = provider.callback();

  async function issueIdToken(username: string): Promise<string> {
    if (!devMode) throw new DomainError('forbidden', 'forbidden', 'The dev account issuer only works in dev mode.');
    if (!isValidDevUsername(username)) throw new DomainError('bad_request', 'invalid_request', USERNAME_RULE);
    const iat = Math.floor(clock.now() / 1000);
    // The provider's own issuer, key and client: indistinguishable to a verifier from one it issued after a login.
    return new SignJWT({ name: username })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(clientId)
      .setSubject(username)
      .setIssuedAt(iat)
      .setExpirationTime(iat + idTokenTtl)
      .sign(key.privateKey);
  }

  /** A browser page on a rebinding host name (evil.example → 127.0.0.1) must not reach us as "same origin". */
  function isAllowedHost(host: string | undefined): boolean {
    if (host === undefined) return true;
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) return false;
    if (host.toLowerCase() === issuerUrl.host) return true;
    let hostname: string;
    try {
      hostname = new URL(`http://${host}`).hostname;
    } catch {
      return false;
    }
    return hostname === 'localhost' || isLoopbackAddress(hostname.replace(/^\[|\]$/g, ''));
  }

  /** Our own login page: any username, no password; consent is granted on the spot (development only). */
  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> {
    const method = req.method ?? 'GET';
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return sendHtml(res, 400, errorPage({ error: 'invalid_request', error_description: 'This sign-in expired or was already used. Start again from your app.' }));
    }
    if (details.uid !== uid) return sendHtml(res, 400, errorPage({ error: 'invalid_request', error_description: 'This sign-in does not match your browser session. Start again.' }));
    if (details.prompt.name === 'consent') {
      const grant = details.grantId ? ((await provider.Grant.find(details.grantId)) ?? null) : null;
      const accountId = details.session?.accountId;
      const given = grant ?? new provider.Grant({ accountId: accountId!, clientId: String(details.params.client_id) });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope) given.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) given.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) given.addResourceScope(indicator, scopes.join(' '));
      const grantId = await given.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (details.prompt.name !== 'login') return sendHtml(res, 400, errorPage({ error: 'invalid_request', error_description: 'Unexpected sign-in step.' }));
    const formAction = `${mountPath}/interaction/${uid}/login`;
    if (action === undefined && (method === 'GET' || method === 'HEAD')) return sendHtml(res, 200, loginPage(formAction));
    if (action !== 'login' || method !== 'POST') return sendHtml(res, 405, errorPage({ error: 'invalid_request', error_description: 'Method not allowed.' }), { allow: 'GET' });
    const username = await readLoginUsername(req);
    if (!isValidDevUsername(username)) return sendHtml(res, 400, loginPage(formAction, USERNAME_RULE));
    return provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, subPath: string): Promise<void> {
    const origin = req.headers.origin;
    const cors: Record<string, string> = { vary: 'origin' };
    if (origin !== undefined && isAllowedOrigin(origin)) cors['access-control-allow-origin'] = origin;
    try {
      // Disabled looks like absent: nothing here reveals that a dev issuer exists.
      if (!devMode) return fail(res, 404, 'not_found', 'not_found', 'Not found.', cors);
      if (!isLoopbackAddress(req.socket.remoteAddress)) {
        return fail(res, 403, 'forbidden', 'forbidden', 'The dev account issuer only answers loopback callers.', cors);
      }
      if (!isAllowedHost(req.headers.host)) {
        return fail(res, 403, 'forbidden', 'forbidden', 'The dev account issuer only answers on its own host name.', cors);
      }
      // A same-host reverse proxy makes every caller look like loopback (S62): proxied requests are refused.
      if (Object.keys(req.headers).some((name) => name === 'forwarded' || name === 'via' || name.startsWith('x-forwarded-'))) {
        return fail(res, 403, 'forbidden', 'forbidden', 'The dev account issuer does not answer proxied requests.', cors);
      }
      const [path = '/', query] = splitOnce(subPath, '?');
      const method = req.method ?? 'GET';
      const step = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login))?$/.exec(path);
      if (step) return await interaction(req, res, step[1]!, step[2]);
      if (path !== '/token') {
        // Everything else is the provider's own: discovery, JWKS, /auth, /oauth/token, /device….
        // Mounted under the relay: the provider computes its URLs from originalUrl minus url.
        (req as IncomingMessage & { originalUrl?: string }).originalUrl = `${mountPath}${subPath}`;
        req.url = query === undefined ? path : `${path}?${query}`;
        return await callback(req, res);
      }
      // The scripted shortcut is for tests and scripts, never clients (SPEC §15): it answers callers
      // without an Origin and same-origin pages (the relay's own), and no other origin, listed or not.
      // Browser pages sign in at the provider's own endpoints above, whose CORS follows the list.
      // (It once answered listed and device-page origins, when /device signed in through it.)
      const plain = { vary: 'origin' };
      if (method === 'OPTIONS') return fail(res, 403, 'forbidden', 'forbidden', 'The dev account issuer’s token shortcut answers no cross-origin request.', plain);
      if (method !== 'POST') return methodNotAllowed(res, 'POST', plain);
      if (origin !== undefined && origin !== issuerUrl.origin) return fail(res, 403, 'forbidden', 'forbidden', 'The dev account issuer’s token shortcut answers no cross-origin request.', plain);
      const username = await readUsername(req);
      const idToken = await issueIdToken(username);
      return sendJson(res, 200, { id_token: idToken, token_type: 'Bearer', expires_in: idTokenTtl }, { ...plain, 'cache-control': 'no-store', pragma: 'no-cache' });
    } catch (error) {
      return failFrom(res, error, cors);
    }
  }

  return { issuer, clientId, audience: clientId, issueIdToken, handle, allowOrigin: (origin) => void allowedOrigins.add(parseOrigin(origin)) };
}

function splitOnce(value: string, separator: string): [string, string | undefined] {
  const at = value.indexOf(separator);
  return at < 0 ? [value, undefined] : [value.slice(0, at), value.slice(at + 1)];
}

async function readLoginUsername(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const form = new URLSearchParams((await readBody(req, MAX_LOGIN_FORM_BYTES)).toString('utf8'));
  return form.getAll('username').length === 1 ? form.get('username') : undefined;
}

async function userCodeInputSource(ctx: KoaContextWithOIDC, form: string, _out: unknown, err?: { userCode?: string; name?: string }): Promise<void> {
  ctx.body = userCodePage(form, err ? userCodeProblem(err) : undefined);
}

function userCodeProblem(err: { userCode?: string; name?: string }): string {
  if (err.name === 'AbortedError') return 'Cancelled: the device was not signed in. You can close this page.';
  if (err.name === 'ExpiredError') return 'That code has expired. Start the sign-in again on your device.';
  if (err.name === 'AlreadyUsedError') return 'That code was already used. Start the sign-in again on your device.';
  if (err.userCode || err.name === 'NoCodeError') return 'That code is not right. Check it and try again.';
  return 'The sign-in could not go on. Try again.';
}

async function userCodeConfirmSource(ctx: KoaContextWithOIDC, form: string, _client: unknown, _deviceInfo: unknown, userCode: string): Promise<void> {
  ctx.body = confirmCodePage(form, userCode);
}

async function successSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.body = signedInPage();
}

function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Our pages need no script and no style: nothing inline can run, and nobody may frame them.
    'content-security-policy': "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : html);
}

function parseIssuerUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('The dev issuer URL must be an absolute URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('The dev issuer URL must be http(s).');
  if (url.search || url.hash || url.username || url.password) throw new TypeError('The dev issuer URL must be a plain origin and path.');
  return url;
}

function parseOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`Allowed origin "${value}" is not a URL.`);
  }
  if (url.origin === 'null' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new TypeError(`Allowed origin "${value}" must be an http(s) origin.`);
  }
  return url.origin;
}

/** `{"username": "alice"}` or `username=alice`; anything else is a 400 that never echoes the input. */
async function readUsername(req: IncomingMessage): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded' && type !== 'application/json') {
    throw new DomainError('bad_request', 'invalid_request', 'Send the username as JSON or as a form.');
  }
  const username = (await readObjectBody(req, MAX_TOKEN_REQUEST_BYTES)).username;
  if (!isValidDevUsername(username)) throw new DomainError('bad_request', 'invalid_request', USERNAME_RULE);
  return username;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : payload);
}

function fail(res: ServerResponse, status: number, error: string, reason: string, message: string, headers: Record<string, string>): void {
  sendJson(res, status, { error, reason, message }, { 'cache-control': 'no-store', ...headers });
}

function methodNotAllowed(res: ServerResponse, allow: string, cors: Record<string, string>): void {
  fail(res, 405, 'method_not_allowed', 'invalid_request', 'Method not allowed.', { ...cors, allow });
}

function failFrom(res: ServerResponse, error: unknown, cors: Record<string, string>): void {
  if (res.headersSent) return void res.destroy();
  if (error instanceof BodyTooLargeError) {
    // The rest of the body is not read, so the connection cannot be reused.
    return fail(res, 413, 'invalid_request', 'invalid_request', error.message, { ...cors, connection: 'close' });
  }
  if (error instanceof DomainError && error.kind === 'bad_request') {
    return fail(res, 400, 'invalid_request', error.reason, error.message, cors);
  }
  if (error instanceof DomainError && error.kind === 'forbidden') return fail(res, 403, 'forbidden', error.reason, error.message, cors);
  // A caller that hung up mid-body gets no answer: nobody is left to read it.
  if (res.req.destroyed && !res.req.complete) return void res.destroy();
  console.error('[gatehouse] dev issuer error:', error instanceof Error ? error.message : String(error));
  return fail(res, 500, 'server_error', 'internal', 'Internal server error.', cors);
}

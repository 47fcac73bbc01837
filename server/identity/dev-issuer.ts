import { BodyTooLargeError, readObjectBody } from '../common/http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { SignJWT } from 'jose';
import { systemClock, type Clock } from '../common/clock';
import { DomainError } from '../common/errors';
import { loadOrCreateDevIssuerKey } from './dev-issuer-key';

/** The embedded default's account issuer: a loopback-only, dev-mode-only OpenID issuer of ID tokens. */
export interface DevIssuer {
  issuer: string;
  audience: string;
  issueIdToken(username: string): Promise<string>;
  /** Serves `subPath` relative to the mount point (e.g. `/jwks` under `/dev-issuer`). */
  handle(req: IncomingMessage, res: ServerResponse, subPath: string): Promise<void>;
  /** Lets one more web origin call `/token` from a browser (an environment that starts later). */
  allowOrigin(origin: string): void;
}

export interface DevIssuerOptions {
  /** The public URL of the mount, e.g. http://127.0.0.1:4200/dev-issuer */
  issuerUrl: string;
  audience: string;
  /** Persist the signing key here (0600); without it the key lives in memory only. */
  keyFile?: string;
  clock?: Clock;
  devMode: boolean;
  /** Web origins (e.g. the env's) whose pages may call the issuer; never `*`. */
  allowedOrigins?: string[];
  /** Origins allowed by rule rather than by list (the relay's per-environment page origins). */
  allowsOrigin?: (origin: string) => boolean;
}

export const DEV_ID_TOKEN_TTL_SECONDS = 600;
export const MAX_TOKEN_REQUEST_BYTES = 4 * 1024;
const USERNAME = /^[A-Za-z0-9._-]{1,64}$/;
const USERNAME_RULE = 'The username must be 1 to 64 characters of letters, digits, ".", "_" or "-".';

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

export async function createDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  const issuerUrl = parseIssuerUrl(opts.issuerUrl);
  const issuer = opts.issuerUrl;
  const base = issuer.replace(/\/+$/, '');
  const { audience, devMode } = opts;
  if (!audience) throw new TypeError('The dev issuer needs an audience.');
  const clock = opts.clock ?? systemClock;
  const allowedOrigins = new Set((opts.allowedOrigins ?? []).map(parseOrigin));
  const isAllowedOrigin = (origin: string) => allowedOrigins.has(origin) || opts.allowsOrigin?.(origin) === true;
  const key = await loadOrCreateDevIssuerKey(opts.keyFile);

  const discovery = {
    issuer,
    jwks_uri: `${base}/jwks`,
    token_endpoint: `${base}/token`,
    id_token_signing_alg_values_supported: ['EdDSA'],
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: ['none'],
    claims_supported: ['iss', 'aud', 'sub', 'name', 'iat', 'exp'],
  };
  const jwks = { keys: [key.publicJwk] };

  async function issueIdToken(username: string): Promise<string> {
    if (!devMode) throw new DomainError('forbidden', 'forbidden', 'The dev account issuer only works in dev mode.');
    if (!isValidDevUsername(username)) throw new DomainError('bad_request', 'invalid_request', USERNAME_RULE);
    const iat = Math.floor(clock.now() / 1000);
    return new SignJWT({ name: username })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(username)
      .setIssuedAt(iat)
      .setExpirationTime(iat + DEV_ID_TOKEN_TTL_SECONDS)
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
      const path = subPath.split('?')[0] || '/';
      const method = req.method ?? 'GET';
      if (path === '/.well-known/openid-configuration' || path === '/jwks') {
        if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD', cors);
        return sendJson(res, 200, path === '/jwks' ? jwks : discovery, { ...cors, 'cache-control': 'public, max-age=300' });
      }
      if (path !== '/token') return fail(res, 404, 'not_found', 'not_found', 'Not found.', cors);
      // Same-origin pages (the relay's own origin) send Origin too; any other origin must be listed.
      const originAllowed = origin === undefined || isAllowedOrigin(origin) || origin === issuerUrl.origin;
      if (method === 'OPTIONS') {
        if (!originAllowed || req.headers['access-control-request-method'] !== 'POST') {
          return fail(res, 403, 'forbidden', 'forbidden', 'This origin may not call the dev account issuer.', cors);
        }
        res.writeHead(204, {
          ...cors,
          'access-control-allow-methods': 'POST',
          'access-control-allow-headers': 'content-type',
          'access-control-max-age': '600',
          ...(req.headers['access-control-request-private-network'] === 'true' ? { 'access-control-allow-private-network': 'true' } : {}),
        });
        return void res.end();
      }
      if (method !== 'POST') return methodNotAllowed(res, 'POST, OPTIONS', cors);
      if (!originAllowed) return fail(res, 403, 'forbidden', 'forbidden', 'This origin may not call the dev account issuer.', cors);
      const username = await readUsername(req);
      const idToken = await issueIdToken(username);
      return sendJson(
        res,
        200,
        { id_token: idToken, token_type: 'Bearer', expires_in: DEV_ID_TOKEN_TTL_SECONDS },
        { ...cors, 'cache-control': 'no-store', pragma: 'no-cache' },
      );
    } catch (error) {
      return failFrom(res, error, cors);
    }
  }

  return { issuer, audience, issueIdToken, handle, allowOrigin: (origin) => void allowedOrigins.add(parseOrigin(origin)) };
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

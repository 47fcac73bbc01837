// The environment's HTTP surface (SPEC §4): one router of plain endpoints around tRPC at /trpc.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveTrpc } from '../common/trpc';
import { z } from 'zod';
import { DomainError } from '../common/errors';
import { originOf, parseCookies, readObjectBody, sendError, sendJson } from '../common/http';
import { sha256Hex } from '../common/secrets';
import { usesScheme, type ChallengeScheme } from '../common/www-authenticate';
import type { EnvDeps } from './deps';
import { loginPageHtml, loginScript } from './owner/login-page';
import { authenticationOptions, loginWithPasskey } from './owner/passkeys.service';
import {
  checkAdminToken,
  endOwnerSession,
  OWNER_COOKIE,
  OWNER_SESSION_TTL_MS,
  redeemLoginCode,
  resolveOwnerSession,
  type OwnerIdentity,
} from './owner/owner-auth.service';
import { AccessEventWriter } from './events/access-sse';
import { ACCESS_EVENTS_PATH, serveAccessEvents } from './trpc/access-events-route';
import { envRouter } from './trpc/app-router';
import type { EnvContext } from './trpc/init';
import type { ClientIdentity } from './connect/client-auth';
import { isTunnelRequest } from './tunnel/tunnel-requests';
import { serveWeb } from './web-static';

export interface EnvHttpOptions {
  deps: EnvDeps;
  environmentId: string;
  adminToken: string;
  /** The configured public URL (DPoP `htu`, cookie `Secure`, CSRF origin): never taken from `Host`. */
  publicUrl: () => string;
  webRoot: string;
  /** Extra origins allowed to connect (the relay) in the CSP. */
  connectOrigins: () => string[];
  authenticateClient: (req: IncomingMessage) => Promise<ClientIdentity>;
  /** The linked relay's URL, for the /device page. */
  relayUrl: () => string | null;
  /** Plain endpoints added by the connect flow: path → handler. */
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>;
}

const MAX_TRPC_BODY = 64 * 1024;

let cachedHeaders: { origins: string; headers: Record<string, string> } | null = null;

/** The headers of every answer; built again only when the allowed origins change. */
export function securityHeaders(connectOrigins: string[]): Record<string, string> {
  const origins = connectOrigins.join(' ');
  if (cachedHeaders?.origins !== origins) cachedHeaders = { origins, headers: buildSecurityHeaders(connectOrigins) };
  return cachedHeaders.headers;
}

function buildSecurityHeaders(connectOrigins: string[]): Record<string, string> {
  return Object.freeze({
    'content-security-policy': [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self' 'unsafe-inline'",
      `connect-src 'self' ${connectOrigins.join(' ')}`.trim(),
      "img-src 'self' data:",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "form-action 'self'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
  });
}

function ownerOf(req: IncomingMessage, opts: EnvHttpOptions): { owner: OwnerIdentity | null; key: string | null } {
  // Owner sessions never cross the relay (SPEC §11), whatever a tunnel stream carries.
  if (isTunnelRequest(req)) return { owner: null, key: null };
  const auth = req.headers.authorization;
  if (usesScheme(auth, 'Bearer')) {
    const owner = checkAdminToken(opts.adminToken, auth!.slice(7).trim());
    return { owner, key: owner ? 'admin-token' : null };
  }
  const token = parseCookies(req.headers.cookie).get(OWNER_COOKIE);
  if (!token) return { owner: null, key: null };
  const owner = resolveOwnerSession(opts.deps, token);
  return { owner, key: owner ? sha256Hex(token) : null };
}

function isCrossSite(req: IncomingMessage, publicUrl: string): boolean {
  const origin = req.headers.origin;
  if (origin) {
    try {
      return originOf(origin) !== originOf(publicUrl);
    } catch {
      return true;
    }
  }
  return req.headers['sec-fetch-site'] === 'cross-site';
}

function createContext(req: IncomingMessage, opts: EnvHttpOptions): EnvContext {
  const { owner, key } = ownerOf(req, opts);
  const actorHeader = req.headers['x-gatehouse-actor'];
  return {
    deps: opts.deps,
    environmentId: opts.environmentId,
    owner,
    ownerKey: key,
    actor: owner?.via === 'cookie' ? 'web' : actorHeader === 'cli' ? 'cli' : 'api',
    crossSiteCookie: owner?.via === 'cookie' && isCrossSite(req, opts.publicUrl()),
    authenticateClient: () => opts.authenticateClient(req),
  };
}

const LoginBody = z.object({ code: z.string().min(1).max(256) });

async function handleLogin(req: IncomingMessage, res: ServerResponse, opts: EnvHttpOptions, headers: Record<string, string>) {
  if (isCrossSite(req, opts.publicUrl())) throw new DomainError('forbidden', 'forbidden', 'Sign in from the environment’s own login page.');
  const parsed = LoginBody.safeParse(await readObjectBody(req, 4096));
  if (!parsed.success) throw new DomainError('bad_request', 'invalid_request', 'The login request needs a "code".');
  const session = redeemLoginCode(opts.deps, parsed.data.code);
  const secure = opts.publicUrl().startsWith('https:') ? '; Secure' : '';
  sendJson(res, 200, { ok: true, redirect: '/settings/connections' }, {
    ...headers,
    'set-cookie': `${OWNER_COOKIE}=${session.token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${OWNER_SESSION_TTL_MS / 1000}${secure}`,
  });
}

const PasskeyLoginBody = z.object({ response: z.record(z.string(), z.unknown()) });

/** Passkey sign-in (SPEC §14): options, then the assertion; a verified session like the link's. */
async function handlePasskeyLogin(req: IncomingMessage, res: ServerResponse, opts: EnvHttpOptions, headers: Record<string, string>, step: 'options' | 'verify') {
  if (isCrossSite(req, opts.publicUrl()) || !req.headers.origin) throw new DomainError('forbidden', 'forbidden', 'Sign in from the environment’s own login page.');
  const rp = { origin: new URL(opts.publicUrl()).origin };
  if (step === 'options') return sendJson(res, 200, await authenticationOptions(opts.deps, rp, 'login', null), headers);
  const parsed = PasskeyLoginBody.safeParse(await readObjectBody(req, 32 * 1024));
  if (!parsed.success) throw new DomainError('bad_request', 'invalid_request', 'The sign-in request needs a passkey "response".');
  const session = await loginWithPasskey(opts.deps, rp, parsed.data.response);
  const secure = opts.publicUrl().startsWith('https:') ? '; Secure' : '';
  sendJson(res, 200, { ok: true, redirect: '/settings/connections' }, {
    ...headers,
    'set-cookie': `${OWNER_COOKIE}=${session.token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${OWNER_SESSION_TTL_MS / 1000}${secure}`,
  });
}

/**
 * Signs this browser out (S63): same-origin only, the session ends server-side (its row and its open
 * event streams) and the cookie is cleared. Answers alike whether or not a session was live.
 */
async function handleLogout(req: IncomingMessage, res: ServerResponse, opts: EnvHttpOptions, headers: Record<string, string>) {
  if (isCrossSite(req, opts.publicUrl()) || !req.headers.origin) throw new DomainError('forbidden', 'forbidden', 'Sign out from the environment’s own pages.');
  const token = parseCookies(req.headers.cookie).get(OWNER_COOKIE);
  if (token) endOwnerSession(opts.deps, token);
  const secure = opts.publicUrl().startsWith('https:') ? '; Secure' : '';
  sendJson(res, 200, { ok: true, redirect: '/settings/connections' }, {
    ...headers,
    'set-cookie': `${OWNER_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure}`,
  });
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * A page asked for by another loopback name of this environment (http://127.0.0.1:4100 when it
 * calls itself http://localhost:4100) goes to its own origin: cookies, the login's same-origin
 * check and passkeys (their RP id is the host name) all belong to that one origin. Only loopback
 * aliases on the same port are redirected; any other Host is served as before.
 */
function loopbackAliasRedirect(hostHeader: string | undefined, publicUrl: string, path: string): string | null {
  if (!hostHeader) return null;
  let own: URL;
  let asked: URL;
  try {
    own = new URL(publicUrl);
    asked = new URL(`http://${hostHeader}`);
  } catch {
    return null;
  }
  if (asked.host === own.host || !LOOPBACK_NAMES.has(own.hostname) || !LOOPBACK_NAMES.has(asked.hostname)) return null;
  if ((asked.port || '80') !== (own.port || (own.protocol === 'https:' ? '443' : '80'))) return null;
  return `${own.origin}${path.startsWith('/') ? path : '/'}`;
}

/** Client procedures take a DPoP session; owner ones the admin token as Bearer (or the owner's cookie). */
const trpcChallenge = (path: string): ChallengeScheme[] => (path.startsWith('client.') ? ['DPoP'] : ['Bearer']);

export function createEnvRequestHandler(opts: EnvHttpOptions) {
  const accessEvents = new AccessEventWriter(opts.deps);
  const routes = opts.routes ?? {};
  const handle = async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The connect endpoints are the hot path: a URL that is exactly a route's path
    // (no query, no escapes) is that route, with no URL parsing. Routes answer their own errors.
    const url = req.url ?? '/';
    if (Object.hasOwn(routes, url)) {
      try {
        return await routes[url]!(req, res);
      } catch (error) {
        return sendError(res, error);
      }
    }
    const headers = securityHeaders(opts.connectOrigins());
    let pathname: string;
    try {
      pathname = new URL(url, 'http://env.invalid').pathname;
      // tRPC decodes the procedure path itself and answers a bad escape (`/trpc/%E0%A4%A`) with a 500.
      decodeURIComponent(pathname);
    } catch {
      return sendError(res, new DomainError('bad_request', 'invalid_request', 'Malformed request URL.'), headers);
    }
    try {
      if (pathname === ACCESS_EVENTS_PATH && serveAccessEvents(req, res, createContext(req, opts), accessEvents, headers)) return;
      if (pathname.startsWith('/trpc/')) {
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        res.setHeader('cache-control', 'no-store'); // owner data and client answers: never kept by a browser or proxy (S63)
        await serveTrpc({ router: envRouter, req, res, pathname, maxBodySize: MAX_TRPC_BODY, label: 'env', createContext: () => createContext(req, opts), challenge: trpcChallenge });
        return;
      }
      const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
      if (route) return await route(req, res);
      if (pathname === '/api/connect/config' && req.method === 'GET') {
        // What the /device page needs to start: public facts only. Through the relay the page is on the
        // environment's origin at the relay, where no owner page is served (SPEC §11).
        return sendJson(res, 200, { environmentId: opts.environmentId, relayUrl: opts.relayUrl(), ownerPages: !isTunnelRequest(req) }, headers);
      }
      if (pathname === '/healthz' && req.method === 'GET') {
        return sendJson(res, 200, { ok: true, environmentId: opts.environmentId }, headers);
      }
      const alias = (req.method === 'GET' || req.method === 'HEAD') && !isTunnelRequest(req) ? loopbackAliasRedirect(req.headers.host, opts.publicUrl(), url) : null;
      if (alias) {
        res.writeHead(308, { location: alias, 'cache-control': 'no-store', ...headers });
        return void res.end();
      }
      if (pathname === '/login' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
        return void res.end(loginPageHtml);
      }
      if (pathname === '/login.js' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', ...headers });
        return void res.end(loginScript);
      }
      if (pathname === '/login' && req.method === 'POST') return await handleLogin(req, res, opts, headers);
      if (pathname === '/logout' && req.method === 'POST') return await handleLogout(req, res, opts, headers);
      if (pathname === '/login/passkey/options' && req.method === 'POST') return await handlePasskeyLogin(req, res, opts, headers, 'options');
      if (pathname === '/login/passkey' && req.method === 'POST') return await handlePasskeyLogin(req, res, opts, headers, 'verify');
      if (serveWeb(opts.webRoot, req, res, pathname, headers)) return;
      sendJson(res, 404, { error: 'not_found', reason: 'not_found', message: `Nothing at ${req.method} ${pathname.slice(0, 200)}.` }, headers);
    } catch (error) {
      sendError(res, error, headers);
    }
  };
  return handle;
}

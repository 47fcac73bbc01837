// The relay's HTTP surface: token exchange, links, tRPC `environments.connect`, the dev issuer, and
// client traffic routed to environments through their tunnels (SPEC §11).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveTrpc } from '../common/trpc';
import { z } from 'zod';
import { DomainError } from '../common/errors';
import { readObjectBody, sendError, sendJson } from '../common/http';
import { tokenChallengeOf, tokenMethodNotAllowed } from '../common/token-request';
import { challengeOf, credentialsOf } from '../common/www-authenticate';
import { authorizationServerMetadata } from '../common/oauth-metadata';
import type { DevIssuer } from '../identity/dev-issuer';
import type { RelayDeps } from './deps';
import { createLink, removeLink } from './links.service';
import { authenticateRelayClient } from './relay-auth';
import { exchangeToken } from './token.service';
import { forwardToEnvironment } from './peer-hop';
import { environmentOfHost, isDevicePagePath, isRoutedApi, matchRoutedPath } from './routing';
import { relayRouter } from './trpc/relay-router';

export interface RelayHttpOptions {
  deps: RelayDeps;
  devIssuer: DevIssuer | null;
  /** Web origins (the /device page) allowed to call the relay from a browser. */
  allowedOrigins: () => string[];
  /** `{label}.{suffix}` hosts are environments' page origins (SPEC §11); null serves no pages. */
  environmentHostSuffix: () => string | null;
  /** What clients need to sign in (SPEC §15); null while the relay is starting. */
  signIn: { accountIssuer: string; clientId: string } | null;
}

/** Where the account issuer sends a browser back; the relay hands code and state on to the device page that asked. */
export const SIGN_IN_CALLBACK_PATH = '/sign-in/callback';
const SIGN_IN_STATE = /^([A-Za-z0-9_-]{22,86})\.([A-Za-z0-9_-]{4,400})$/;
const FORWARDED_SIGN_IN_PARAMS = ['code', 'state', 'iss', 'error', 'error_description'] as const;

/**
 * The device page's origin named in `state` (`<nonce>.<base64url(origin)>`), when it is one this relay
 * serves or lists; anything else is refused, so a code never goes to a page of the caller's choosing.
 */
export function signInReturnOrigin(state: string | null, isAllowed: (origin: string) => boolean): string | null {
  const match = SIGN_IN_STATE.exec(state ?? '');
  if (!match) return null;
  let origin: string;
  try {
    origin = new URL(Buffer.from(match[2]!, 'base64url').toString('utf8')).origin;
  } catch {
    return null;
  }
  if (Buffer.from(origin).toString('base64url') !== match[2]) return null; // exactly an origin, nothing more
  return isAllowed(origin) ? origin : null;
}

function bounceSignIn(req: IncomingMessage, res: ServerResponse, query: string, isAllowed: (origin: string) => boolean): void {
  const params = new URLSearchParams(query);
  const origin = signInReturnOrigin(params.get('state'), isAllowed);
  if (!origin) {
    const message = 'This sign-in callback does not name a device page this relay serves, so nothing was handed on. Start the sign-in again from the device page.';
    // A person's browser lands here: a readable page; anything else gets the JSON error.
    if (/\btext\/html\b/.test(req.headers.accept ?? '')) return sendSignInProblem(res, message);
    return sendJson(res, 400, { error: 'invalid_request', reason: 'invalid_request', message }, noStore);
  }
  const forward = new URLSearchParams();
  for (const name of FORWARDED_SIGN_IN_PARAMS) {
    const value = params.get(name);
    if (value !== null && value.length <= 2048) forward.set(name, value);
  }
  // In the fragment: the code reaches the page's script, never a server log on the way.
  res.writeHead(303, { location: `${origin}/device#${forward.toString()}`, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  res.end();
}

function sendSignInProblem(res: ServerResponse, message: string): void {
  const html = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in refused</title></head><body><main><h1>Sign-in refused</h1><p role="alert">${message}</p></main></body></html>`;
  res.writeHead(400, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'content-security-policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...noStore,
  });
  res.end(html);
}

const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };
const LinkBody = z.object({ proof: z.string().min(1).max(16 * 1024) });

/** An environment's page origin at this relay may call the relay's client API (DPoP, no cookies). */
export function isEnvironmentPageOrigin(origin: string, suffix: string | null): boolean {
  try {
    return environmentOfHost(new URL(origin).host, suffix) !== null;
  } catch {
    return false;
  }
}

function corsHeaders(req: IncomingMessage, allowed: string[], suffix: string | null): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || (!allowed.includes(origin) && !isEnvironmentPageOrigin(origin, suffix))) return {};
  return {
    'access-control-allow-origin': origin,
    vary: 'origin',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': 'authorization, dpop, content-type, trpc-accept, x-trpc-source, last-event-id',
    'access-control-expose-headers': 'www-authenticate, retry-after',
    'access-control-max-age': '600',
  };
}

/**
 * Aborts when the caller goes away before its answer is written. tRPC's own signal listens for
 * 'aborted', which Node does not emit once the request body has been read.
 */
function callerGone(res: ServerResponse): AbortSignal {
  const abort = new AbortController();
  res.once('close', () => res.writableFinished || abort.abort());
  return abort.signal;
}

/** Ready: the database answers and this instance takes tunnels (a balancer's health check, SPEC §12). */
async function readiness(deps: RelayDeps): Promise<[number, { ready: boolean; database: boolean; acceptingTunnels: boolean }]> {
  const database = await deps.store.ping().then(
    () => true,
    () => false,
  );
  const acceptingTunnels = deps.tunnels.accepting();
  const ready = database && acceptingTunnels;
  return [ready ? 200 : 503, { ready, database, acceptingTunnels }];
}

function bearerOf(req: IncomingMessage): string {
  const match = /^([A-Za-z0-9_.-]{1,16384})$/.exec(credentialsOf(req.headers.authorization, 'Bearer') ?? '');
  if (!match) throw new DomainError('unauthorized', 'invalid_token', 'Send the owner’s account ID token as Authorization: Bearer.');
  return match[1]!;
}

/** RFC 9449 §7.1 asks a DPoP challenge of a bad proof even where the answer is a 400. */
function dpopErrorChallenge(error: unknown): Record<string, string> {
  return error instanceof DomainError && error.reason === 'invalid_dpop_proof' ? { 'www-authenticate': challengeOf('DPoP', 'invalid_dpop_proof', error.message) } : {};
}

export function createRelayRequestHandler(opts: RelayHttpOptions) {
  const { deps } = opts;
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const suffix = opts.environmentHostSuffix();
    const cors = corsHeaders(req, opts.allowedOrigins(), suffix);
    let pathname: string;
    let query: string;
    try {
      const url = new URL(req.url ?? '/', 'http://relay.invalid');
      pathname = url.pathname;
      query = url.search;
      // tRPC decodes the procedure path itself and answers a bad escape (`/trpc/%E0%A4%A`) with a 500.
      decodeURIComponent(pathname);
    } catch {
      return sendError(res, new DomainError('bad_request', 'invalid_request', 'Malformed request URL.'), cors);
    }
    try {
      const pageOf = environmentOfHost(req.headers.host, suffix);
      if (pageOf) {
        // An environment's own origin: its device page only, never an owner page or a relay route.
        if (pathname === '/' && req.method === 'GET') {
          res.writeHead(302, { location: '/device', 'cache-control': 'no-store' });
          return void res.end();
        }
        if (!isDevicePagePath(req.method ?? 'GET', pathname)) return sendJson(res, 404, { error: 'not_found', reason: 'not_found', message: 'Only the device page is served on an environment’s origin at the relay.' });
        return await forwardToEnvironment(deps.tunnels, deps.peers, { environmentId: pageOf, path: pathname, query, req, res, clientAddress: deps.callerAddress(req) });
      }
      const routed = matchRoutedPath(pathname);
      if (routed) {
        if (req.method === 'OPTIONS') {
          res.writeHead(Object.keys(cors).length ? 204 : 403, cors);
          return void res.end();
        }
        if (!isRoutedApi(req.method ?? 'GET', routed.path, req.headers)) {
          return sendJson(res, 404, { error: 'not_found', reason: 'not_found', message: 'The relay forwards only the client API (POST /oauth/token, DPoP /trpc/*, GET /healthz) to an environment.' }, cors);
        }
        return await forwardToEnvironment(deps.tunnels, deps.peers, { environmentId: routed.environmentId, path: routed.path, query, req, res, extraResponseHeaders: cors, clientAddress: deps.callerAddress(req) });
      }
      if (pathname.startsWith('/dev-issuer/') || pathname === '/dev-issuer') {
        if (!opts.devIssuer) return sendJson(res, 404, { error: 'not_found', reason: 'not_found', message: 'The dev issuer is not enabled on this relay.' });
        return await opts.devIssuer.handle(req, res, `${pathname.slice('/dev-issuer'.length) || '/'}${query}`);
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(Object.keys(cors).length ? 204 : 403, cors);
        return void res.end();
      }
      if (pathname.startsWith('/trpc/')) {
        for (const [k, v] of Object.entries({ ...cors, ...noStore })) res.setHeader(k, v);
        await serveTrpc({ router: relayRouter, req, res, pathname, maxBodySize: 16 * 1024, label: 'relay', createContext: () => ({ deps, authenticate: () => authenticateRelayClient(deps, req), clientAddress: deps.callerAddress(req), callerGone: callerGone(res) }) });
        return;
      }
      if (pathname === '/oauth/token') {
        if (req.method !== 'POST') return tokenMethodNotAllowed(res, { ...cors, ...noStore });
        try {
          return sendJson(res, 200, await exchangeToken(deps, req, await readObjectBody(req, 32 * 1024)), { ...cors, ...noStore });
        } catch (error) {
          return sendError(res, error, { ...cors, ...noStore, ...dpopErrorChallenge(error) }, { oauth: true, challenge: tokenChallengeOf(error) });
        }
      }
      if (pathname === '/.well-known/oauth-authorization-server' && req.method === 'GET') return sendJson(res, 200, authorizationServerMetadata(deps.relayIssuer, deps.publicUrl()), cors);
      if (pathname === '/v1/links' && req.method === 'POST') {
        const idToken = bearerOf(req);
        const body = LinkBody.safeParse(await readObjectBody(req, 32 * 1024));
        if (!body.success) throw new DomainError('bad_request', 'invalid_request', 'The body must be {"proof": "<link proof JWT>"}.');
        return sendJson(res, 200, await createLink(deps, idToken, body.data.proof), noStore);
      }
      const unlink = /^\/v1\/links\/([A-Za-z0-9_-]{1,128})$/.exec(pathname);
      if (unlink && req.method === 'DELETE') {
        const body = LinkBody.safeParse(await readObjectBody(req, 32 * 1024));
        if (!body.success) throw new DomainError('bad_request', 'invalid_request', 'The body must be {"proof": "<unlink proof JWT>"}.');
        return sendJson(res, 200, await removeLink(deps, unlink[1]!, body.data.proof), noStore);
      }
      if (pathname === '/.well-known/gatehouse-configuration' && req.method === 'GET') {
        if (!opts.signIn) return sendJson(res, 503, { error: 'temporarily_unavailable', reason: 'unavailable', message: 'The relay is starting.' }, { ...cors, ...noStore });
        return sendJson(res, 200, { accountIssuer: opts.signIn.accountIssuer, clientId: opts.signIn.clientId, relayIssuer: deps.relayIssuer }, cors);
      }
      if (pathname === SIGN_IN_CALLBACK_PATH && req.method === 'GET') {
        const allowed = opts.allowedOrigins();
        const scheme = new URL(deps.publicUrl()).protocol;
        return bounceSignIn(req, res, query, (origin) => allowed.includes(origin) || (isEnvironmentPageOrigin(origin, suffix) && new URL(origin).protocol === scheme));
      }
      if (pathname === '/.well-known/gatehouse-relay' && req.method === 'GET') {
        return sendJson(res, 200, { issuer: deps.relayIssuer, publicKey: deps.signingKey.publicJwk }, cors);
      }
      if (pathname === '/healthz' && req.method === 'GET') return sendJson(res, 200, { ok: true, issuer: deps.relayIssuer }, cors);
      if (pathname === '/readyz' && req.method === 'GET') return sendJson(res, ...(await readiness(deps)), noStore);
      sendJson(res, 404, { error: 'not_found', reason: 'not_found', message: `Nothing at ${req.method} ${pathname.slice(0, 200)}.` }, cors);
    } catch (error) {
      // Links are made with the owner's account ID token as a Bearer credential; the rest is DPoP.
      sendError(res, error, { ...cors, ...noStore }, { challenge: pathname.startsWith('/v1/links') ? ['Bearer'] : ['DPoP'] });
    }
  };
}

// The internal hop between relay instances (SPEC §12): a request for an environment whose tunnel
// another instance holds goes to that instance's internal URL. Both ends prove the shared secret:
// the caller sends an HMAC over a fresh nonce, the time and what it asks for; the answer carries an
// HMAC over the same nonce back. The hop serves nothing else, and carries only what a tunnel would.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Clock } from '../common/clock';
import { DomainError } from '../common/errors';
import { sendError, sendJson } from '../common/http';
import { secretsEqual } from '../common/secrets';
import { REQUEST_ID_HEADER, requestIdOf } from '../common/request-log';
import { forwardedHeaders, forwardThroughTunnel, HOP_BY_HOP_RESPONSE, isDevicePagePath, isRoutedApi, timedOut, withRequestId } from './routing';
import type { TunnelHub } from './tunnel-hub';
import { offline } from './tunnel-hub';
import type { TunnelLocations } from './tunnel-locations';

export const PEER_PATH = '/internal/v1/tunnel';
export const MINT_PATH = '/api/connect/mint-credential';
/** An instance that does not take the connection this fast counts as gone. */
export const PEER_CONNECT_TIMEOUT_MS = 2_000;
/**
 * A forwarded request waits this much longer than the holder's own bound (TunnelHub.answerTimeoutMs)
 * for the answer to begin: a holder whose environment stalls answers 504 itself first; past it, the
 * holder itself is stalled (stopped, overloaded) and this instance answers 504 and forgets it.
 */
export const PEER_ANSWER_GRACE_MS = 5_000;
const CLOCK_WINDOW_MS = 30_000;
const MIN_SECRET_LENGTH = 32;
const H = {
  environment: 'gatehouse-internal-environment',
  clientAddress: 'gatehouse-internal-client-address',
  nonce: 'gatehouse-internal-nonce',
  time: 'gatehouse-internal-time',
  auth: 'gatehouse-internal-auth',
  proof: 'gatehouse-internal-proof',
} as const;

/** Reads the secret every instance shares; refuses a short one. */
export function readInternalSecret(file: string): string {
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`The internal secret in ${file} is shorter than ${MIN_SECRET_LENGTH} characters; make one with: openssl rand -base64 48 > ${file}`);
  return secret;
}

const mac = (secret: string, label: string, parts: string[]) => createHmac('sha256', secret).update([label, ...parts].join('\n')).digest('base64url');
const requestMac = (secret: string, p: { nonce: string; time: string; environmentId: string; method: string; path: string; clientAddress: string }) =>
  mac(secret, 'gatehouse-internal-request', [p.nonce, p.time, p.environmentId, p.method, p.path, p.clientAddress]);
const answerMac = (secret: string, nonce: string, environmentId: string) => mac(secret, 'gatehouse-internal-answer', [nonce, environmentId]);
const one = (value: string | string[] | undefined): string => (typeof value === 'string' ? value : '');

/** What proves a hop request: a fresh nonce, the time, and the HMAC over them and what is asked. */
export function peerRequestHeaders(secret: string, now: number, ask: { environmentId: string; method: string; path: string; clientAddress: string }) {
  const nonce = randomBytes(24).toString('base64url');
  const time = String(now);
  return {
    nonce,
    headers: { [H.environment]: ask.environmentId, [H.clientAddress]: ask.clientAddress, [H.nonce]: nonce, [H.time]: time, [H.auth]: requestMac(secret, { nonce, time, ...ask }) },
  };
}

/** Whether an answer proves the secret for this request's nonce. */
export const answerProves = (secret: string, nonce: string, environmentId: string, proof: string): boolean => secretsEqual(proof, answerMac(secret, nonce, environmentId));

export type HopKind = 'routed' | 'mint';
export type HopOutcome = 'answered' | 'holder_gone' | 'timed_out' | 'cancelled';

/** What the hop tells the metrics: each request forwarded to a holder, and each one served for another instance. */
export interface PeerHopObserver {
  forwarded(kind: HopKind, outcome: HopOutcome): void;
  served(outcome: 'served' | 'refused'): void;
}

export interface PeerHopOptions {
  secret: string;
  hub: TunnelHub;
  locations: TunnelLocations;
  clock: Clock;
  observer?: PeerHopObserver | undefined;
}

export function createPeerHop(opts: PeerHopOptions) {
  const { secret } = opts;
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  // Nonces seen within the clock window: a captured request cannot be played again.
  const seen = new Map<string, number>();

  function rememberNonce(nonce: string, now: number): boolean {
    if (seen.has(nonce)) return false;
    if (seen.size > 10_000) for (const [n, until] of seen) if (until < now) seen.delete(n);
    seen.set(nonce, now + 2 * CLOCK_WINDOW_MS);
    return true;
  }

  /**
   * One request to the instance at `internalUrl`; the answer is handed on only once it proves the
   * secret. `answerWithinMs`: how long the answer may take to begin before `onGone('timed_out')`.
   */
  function call(
    kind: HopKind,
    internalUrl: string,
    environmentId: string,
    headers: OutgoingHttpHeaders,
    onAnswer: (answer: IncomingMessage) => void,
    onGone: (why: 'holder_gone' | 'timed_out') => void,
    answerWithinMs?: number,
  ) {
    const method = String(headers[':method'] ?? 'GET');
    const path = String(headers[':path'] ?? '/');
    const clientAddress = String(headers['gatehouse-client-address'] ?? '');
    const out: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) if (!name.startsWith(':') && name !== 'gatehouse-client-address' && value !== undefined) out[name] = value;
    const { nonce, headers: proven } = peerRequestHeaders(secret, opts.clock.now(), { environmentId, method, path, clientAddress });
    Object.assign(out, proven);
    const url = new URL(`${PEER_PATH}${path}`, internalUrl);
    const client = url.protocol === 'https:' ? https : http;
    const upstream = client.request(url, { method, headers: out, agent: url.protocol === 'https:' ? agents.https : agents.http });
    let settled = false;
    const gone = (why: 'holder_gone' | 'timed_out' = 'holder_gone') => {
      if (settled) return;
      settled = true;
      clearTimeout(answerTimer);
      opts.locations.forget(environmentId);
      upstream.destroy();
      opts.observer?.forwarded(kind, why);
      onGone(why);
    };
    const answerTimer = answerWithinMs === undefined ? undefined : setTimeout(() => gone('timed_out'), answerWithinMs);
    upstream.once('close', () => {
      clearTimeout(answerTimer);
      // Closed before any answer and not by us: the caller went away (or was told already).
      if (!settled) {
        settled = true;
        opts.observer?.forwarded(kind, 'cancelled');
      }
    });
    upstream.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => gone(), PEER_CONNECT_TIMEOUT_MS);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    upstream.on('response', (answer) => {
      if (settled) return answer.resume();
      if (!answerProves(secret, nonce, environmentId, one(answer.headers[H.proof]))) {
        answer.resume();
        return gone();
      }
      settled = true;
      clearTimeout(answerTimer);
      opts.observer?.forwarded(kind, 'answered');
      onAnswer(answer);
    });
    upstream.on('error', () => gone());
    return upstream;
  }

  return {
    locate: (environmentId: string) => opts.locations.locate(environmentId),

    /** A routed request or device page for an environment held at `internalUrl`, streamed both ways. */
    forward(internalUrl: string, environmentId: string, o: { req: IncomingMessage; res: ServerResponse; path: string; query: string; extraResponseHeaders?: Record<string, string>; clientAddress?: string }): void {
      const { req, res } = o;
      const upstream = call(
        'routed',
        internalUrl,
        environmentId,
        withRequestId(forwardedHeaders(req, o.path, o.query, o.clientAddress ?? req.socket.remoteAddress ?? ''), res),
        (answer) => {
          const headers: Record<string, string | string[]> = { ...o.extraResponseHeaders };
          for (const [name, value] of Object.entries(answer.headers)) {
            if (HOP_BY_HOP_RESPONSE.has(name) || name.startsWith('gatehouse-internal-') || value === undefined) continue;
            headers[name] = value;
          }
          res.writeHead(answer.statusCode ?? 502, headers);
          if (String(answer.headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
          answer.pipe(res);
          answer.on('aborted', () => res.destroy());
          answer.on('error', () => res.destroy());
        },
        (why) =>
          why === 'timed_out'
            ? sendError(res, timedOut(), { ...o.extraResponseHeaders, 'cache-control': 'no-store' })
            : sendError(res, offline(), { ...o.extraResponseHeaders, 'cache-control': 'no-store', 'retry-after': '5' }),
        opts.hub.answerTimeoutMs + PEER_ANSWER_GRACE_MS,
      );
      res.once('close', () => res.writableFinished || upstream.destroy());
      if (req.method === 'GET' || req.method === 'HEAD') upstream.end();
      else req.pipe(upstream);
    },

    /** A mint request for an environment held at `internalUrl`: its status and at most `maxBytes` of body. */
    exchange(internalUrl: string, environmentId: string, request: { path: string; body: string; signal: AbortSignal; maxBytes: number }): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const headers = { ':method': 'POST', ':path': request.path, 'content-type': 'application/json', accept: 'application/json', 'content-length': String(Buffer.byteLength(request.body)) };
        // Bounded by the caller's signal (the connector's timeout covers the held wait).
        const upstream = call(
          'mint',
          internalUrl,
          environmentId,
          headers,
          (answer) => {
            const chunks: Buffer[] = [];
            let size = 0;
            answer.on('data', (chunk: Buffer) => {
              size += chunk.byteLength;
              if (size > request.maxBytes) {
                upstream.destroy();
                return reject(new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment answered with an oversized body.'));
              }
              chunks.push(chunk);
            });
            answer.on('end', () => {
              const status = answer.statusCode ?? 502;
              const body = Buffer.concat(chunks).toString('utf8');
              // The holder lost the tunnel meanwhile: the environment is offline, not broken.
              if (status === 503 && body.includes('environment_offline')) return reject(offline());
              resolve({ status, body });
            });
            answer.on('aborted', () => reject(new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not be reached through its tunnel.')));
          },
          () => reject(offline()),
        );
        const onAbort = () => {
          upstream.destroy();
          reject(request.signal.reason ?? new Error('aborted'));
        };
        if (request.signal.aborted) return onAbort();
        request.signal.addEventListener('abort', onAbort, { once: true });
        upstream.once('close', () => request.signal.removeEventListener('abort', onAbort));
        upstream.end(request.body);
      });
    },

    /** The internal listener: a proven request for a tunnel this instance holds; 401 for anything else. */
    handle(req: IncomingMessage, res: ServerResponse): void {
      const url = new URL(req.url ?? '/', 'http://peer.invalid');
      const environmentId = one(req.headers[H.environment]);
      const nonce = one(req.headers[H.nonce]);
      const time = one(req.headers[H.time]);
      const clientAddress = one(req.headers[H.clientAddress]);
      const path = url.pathname.startsWith(`${PEER_PATH}/`) ? url.pathname.slice(PEER_PATH.length) : '';
      const now = opts.clock.now();
      const fresh = /^\d{1,16}$/.test(time) && Math.abs(now - Number(time)) <= CLOCK_WINDOW_MS;
      const proven =
        path !== '' &&
        nonce.length >= 16 &&
        nonce.length <= 64 &&
        fresh &&
        secretsEqual(one(req.headers[H.auth]), requestMac(secret, { nonce, time, environmentId, method: req.method ?? 'GET', path: `${path}${url.search}`, clientAddress })) &&
        rememberNonce(nonce, now);
      opts.observer?.served(proven ? 'served' : 'refused');
      if (!proven) return sendJson(res, 401, { error: 'unauthorized', reason: 'invalid_token', message: 'The internal hop serves only relay instances that prove the shared secret.' }, { connection: 'close', 'www-authenticate': 'Gatehouse-Peer realm="gatehouse"' });
      const proof = { [H.proof]: answerMac(secret, nonce, environmentId) };
      const method = req.method ?? 'GET';
      const allowed = isRoutedApi(method, path, req.headers) || isDevicePagePath(method, path) || (method === 'POST' && path === MINT_PATH);
      if (!allowed) return sendJson(res, 404, { error: 'not_found', reason: 'not_found', message: 'Not a path the tunnel carries.' }, proof);
      // Only this instance's own tunnel: a request never hops twice.
      forwardThroughTunnel({ hub: opts.hub, environmentId, path, query: url.search, req, res, clientAddress, extraResponseHeaders: proof, requestId: requestIdOf(req.headers[REQUEST_ID_HEADER]) });
    },

    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

export type PeerHop = ReturnType<typeof createPeerHop>;

/** A routed request or device page: this instance's tunnel, else the instance holding it, else offline. */
export async function forwardToEnvironment(
  hub: TunnelHub,
  peers: PeerHop | undefined,
  o: { environmentId: string; path: string; query: string; req: IncomingMessage; res: ServerResponse; extraResponseHeaders?: Record<string, string>; clientAddress?: string },
): Promise<void> {
  if (hub.has(o.environmentId) || !peers) return forwardThroughTunnel({ hub, ...o });
  const location = await peers.locate(o.environmentId);
  if (!location) return forwardThroughTunnel({ hub, ...o }); // answers environment_offline
  peers.forward(location.internalUrl, o.environmentId, o);
}

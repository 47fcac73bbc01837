// Client traffic the relay carries to an environment through its tunnel (SPEC §11): the routed API
// under `/e/{environmentId}/…` and, on the environment's own browser origin, its device page.
// Only the listed paths cross; owner credentials (cookies, Bearer) never do.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import http2, { type OutgoingHttpHeaders } from 'node:http2';
import { DomainError } from '../common/errors';
import { environmentIdOfHostLabel, isEnvironmentId } from '../common/environment-id';
import { sendError } from '../common/http';
import { REQUEST_ID_HEADER, requestIdOf } from '../common/request-log';
import type { TunnelHub } from './tunnel-hub';

export const timedOut = () => new DomainError('gateway_timeout', 'endpoint_timed_out', 'The environment did not answer in time.');

export const routedEndpointOf = (publicUrl: string, environmentId: string): string => `${publicUrl.replace(/\/+$/, '')}/e/${environmentId}`;

const ROUTED = /^\/e\/(env_[a-z2-7]{26})(\/.*)?$/;

/** `/e/{id}/rest` → the environment and the path it serves, or null. */
export function matchRoutedPath(pathname: string): { environmentId: string; path: string } | null {
  const match = ROUTED.exec(pathname);
  if (!match || !isEnvironmentId(match[1])) return null;
  return { environmentId: match[1]!, path: match[2] ?? '/' };
}

/** The environment whose page origin this Host names (`{label}.{suffix}`), or null. */
export function environmentOfHost(host: string | undefined, suffix: string | null): string | null {
  if (!host || !suffix) return null;
  const lower = host.toLowerCase();
  const tail = `.${suffix.toLowerCase()}`;
  if (!lower.endsWith(tail)) return null;
  return environmentIdOfHostLabel(lower.slice(0, -tail.length));
}

export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';

/** The API an environment serves to clients through the relay: DPoP only, no owner paths. */
export function isRoutedApi(method: string, path: string, headers: IncomingHttpHeaders): boolean {
  // GET reaches the environment's token endpoint too, for its 405 with Allow: POST.
  if (path === '/oauth/token') return method === 'POST' || method === 'GET';
  if (path === '/healthz' || path === OAUTH_METADATA_PATH) return method === 'GET';
  if (path.startsWith('/trpc/')) return (method === 'GET' || method === 'POST') && /^DPoP /i.test(headers.authorization ?? '');
  return false;
}

/** What the device page needs on the environment's own origin; nothing of the owner's. */
export function isDevicePagePath(method: string, path: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  return path === '/device' || path === '/api/connect/config' || path === '/favicon.ico' || path === '/favicon.svg' || /^\/assets\/[A-Za-z0-9._-]{1,200}$/.test(path);
}

// Request headers a client may send through; everything else (Cookie, Host, hop-by-hop,
// X-Forwarded-*, any gatehouse-*) stays at the relay.
const FORWARDED_REQUEST_HEADERS = new Set([
  'accept',
  'accept-language',
  'authorization',
  'cache-control',
  'content-length',
  'content-type',
  'dpop',
  'last-event-id',
  'trpc-accept',
  'trpc-batch-mode',
  'user-agent',
  'x-trpc-source',
]);
export const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'set-cookie', 'te', 'trailer']);
const MAX_FORWARDED_BODY = 64 * 1024;
/** Answers up to this size are sent whole (one write, with Content-Length); larger ones stream. */
const WHOLE_ANSWER_BYTES = 64 * 1024;

export function forwardedHeaders(req: IncomingMessage, path: string, query: string, clientAddress: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': req.method ?? 'GET', ':path': `${path}${query}`, ':scheme': 'http', ':authority': 'environment.tunnel' };
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (!FORWARDED_REQUEST_HEADERS.has(name)) continue;
    if (name === 'authorization' && !/^DPoP /i.test(req.rawHeaders[i + 1]!)) continue;
    // Repeated headers stay repeated (a doubled DPoP header is refused by the environment, S1).
    const value = req.rawHeaders[i + 1]!;
    const existing = out[name];
    out[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [String(existing), value];
  }
  out['gatehouse-client-address'] = clientAddress;
  return out;
}

export interface ForwardOptions {
  hub: TunnelHub;
  environmentId: string;
  path: string;
  query: string;
  req: IncomingMessage;
  res: ServerResponse;
  extraResponseHeaders?: Record<string, string>;
  /** The caller's address when the request came over the internal hop from another instance. */
  clientAddress?: string;
  /** The request id of the instance the caller reached (internal hop); else this answer's own `x-request-id`. */
  requestId?: string | undefined;
}

/** This request's id, handed on so the environment's log line (and the holder's) carries the same one. */
export function withRequestId(headers: OutgoingHttpHeaders, res: ServerResponse, given?: string): OutgoingHttpHeaders {
  const id = given ?? requestIdOf(res.getHeader('x-request-id'));
  if (id) headers[REQUEST_ID_HEADER] = id;
  return headers;
}

/**
 * One client request as one HTTP/2 stream through the tunnel: bodies stream both ways with
 * backpressure, and the stream is cancelled (RST_STREAM) when the client goes away.
 */
export function forwardThroughTunnel(opts: ForwardOptions): void {
  const { req, res } = opts;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (!Number.isFinite(declared) || declared > MAX_FORWARDED_BODY) {
    return sendError(res, new DomainError('payload_too_large', 'invalid_request', 'The request body is too large.'), { ...opts.extraResponseHeaders, connection: 'close' });
  }
  const bodyless = req.method === 'GET' || req.method === 'HEAD';
  let stream;
  try {
    stream = opts.hub.request(opts.environmentId, withRequestId(forwardedHeaders(req, opts.path, opts.query, opts.clientAddress ?? req.socket.remoteAddress ?? ''), res, opts.requestId), bodyless);
  } catch (error) {
    return sendError(res, error, { ...opts.extraResponseHeaders, 'cache-control': 'no-store', 'retry-after': '5' });
  }
  let sent = 0;
  const cancel = () => {
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  };
  // An environment that holds its tunnel but does not answer (stalled, or its stream lost) gets a
  // bounded wait: then the caller hears 504 and the stream is cancelled, never a request left hanging.
  const stalled = setTimeout(() => {
    if (res.headersSent) return;
    sendError(res, timedOut(), { ...opts.extraResponseHeaders, 'cache-control': 'no-store' });
    cancel();
  }, opts.hub.answerTimeoutMs);
  stream.once('response', () => clearTimeout(stalled));
  stream.once('close', () => clearTimeout(stalled));
  res.once('close', () => {
    clearTimeout(stalled);
    if (!res.writableFinished) cancel();
  });
  if (!bodyless) {
    req.on('data', (chunk: Buffer) => {
      sent += chunk.byteLength;
      if (sent > MAX_FORWARDED_BODY) {
        cancel();
        req.destroy();
      }
    });
    req.pipe(stream);
  }
  stream.on('response', (headers) => {
    const status = Number(headers[':status'] ?? 502);
    const out: Record<string, string | string[]> = { ...opts.extraResponseHeaders };
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(':') || HOP_BY_HOP_RESPONSE.has(name) || value === undefined) continue;
      out[name] = value as string | string[];
    }
    if (String(headers['content-type'] ?? '').startsWith('text/event-stream') || req.method === 'HEAD') {
      res.writeHead(status, out);
      // An event stream is flushed at once so the first event is not held in a buffer.
      res.flushHeaders();
      return void stream.pipe(res);
    }
    // An API answer is small: sent whole it costs one socket write, where streaming it costs one
    // for the head and each chunk and one for the last chunk. A larger answer streams as it comes.
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size <= WHOLE_ANSWER_BYTES) return;
      stream.off('data', onData).off('end', onEnd);
      res.writeHead(status, out);
      for (const c of chunks.splice(0)) res.write(c);
      stream.pipe(res);
    };
    const onEnd = () => {
      if (status !== 204 && status !== 304) out['content-length'] = String(size);
      res.writeHead(status, out);
      res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    stream.on('data', onData).once('end', onEnd);
  });
  stream.on('error', () => {
    if (!res.headersSent) sendError(res, new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not answer through its tunnel.'), { ...opts.extraResponseHeaders, 'cache-control': 'no-store' });
    else res.destroy();
  });
  stream.on('close', () => {
    if (!res.headersSent) sendError(res, new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not answer through its tunnel.'), { ...opts.extraResponseHeaders, 'cache-control': 'no-store' });
    else if (!res.writableEnded) res.destroy(); // cut off mid-answer: the client must not take it as whole
  });
}

/** A mint request (SPEC §11) as one tunnel stream: the answer's status and at most `maxBytes` of body. */
export function exchangeThroughTunnel(
  hub: TunnelHub,
  environmentId: string,
  request: { path: string; body: string; headers?: Record<string, string>; signal: AbortSignal; maxBytes: number },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let stream;
    try {
      stream = hub.request(environmentId, { ':method': 'POST', ':path': request.path, ':scheme': 'http', ':authority': 'environment.tunnel', 'content-type': 'application/json', accept: 'application/json', ...request.headers }, false);
    } catch (error) {
      return reject(error);
    }
    const onAbort = () => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(request.signal.reason ?? new Error('aborted'));
    };
    if (request.signal.aborted) return onAbort();
    request.signal.addEventListener('abort', onAbort, { once: true });
    let status = 0;
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('response', (headers) => {
      status = Number(headers[':status'] ?? 0);
    });
    stream.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > request.maxBytes) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        request.signal.removeEventListener('abort', onAbort);
        reject(new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment answered with an oversized body.'));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      request.signal.removeEventListener('abort', onAbort);
      resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    const failed = () => {
      request.signal.removeEventListener('abort', onAbort);
      reject(new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not be reached through its tunnel.'));
    };
    stream.on('error', failed);
    // A stream reset without an error (the tunnel closed under it) ends here; a settled promise ignores it.
    stream.on('close', failed);
    stream.end(request.body);
  });
}

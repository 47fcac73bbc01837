// What the environment accepts on a tunnel stream (SPEC §11): the client API and the device page,
// never an owner credential or owner page, whatever the relay sends. Only on tunnel streams is the
// relay's `gatehouse-client-address` header believed.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerStreamResponseOptions } from 'node:http2';

const tunnelRequests = new WeakSet<object>();

export function markTunnelRequest(req: Http2ServerRequest): void {
  tunnelRequests.add(req);
}

export function isTunnelRequest(req: IncomingMessage | Http2ServerRequest): boolean {
  return tunnelRequests.has(req);
}

/** The client's address: the relay's word on a tunnel stream, the TCP peer otherwise. */
export function clientAddressOf(req: IncomingMessage): string {
  if (isTunnelRequest(req)) {
    const header = req.headers['gatehouse-client-address'];
    return typeof header === 'string' ? header.slice(0, 64) : '';
  }
  return req.socket?.remoteAddress ?? '';
}

function allowedOnTunnel(method: string, path: string, authorization: string | undefined): boolean {
  if (path === '/api/connect/mint-credential') return method === 'POST';
  if (path === '/oauth/token') return method === 'POST' || method === 'GET';
  if (path === '/healthz' || path === '/api/connect/config' || path === '/.well-known/oauth-authorization-server') return method === 'GET';
  if (path.startsWith('/trpc/')) return (method === 'GET' || method === 'POST') && /^DPoP /i.test(authorization ?? '');
  if (method !== 'GET' && method !== 'HEAD') return false;
  return path === '/device' || path === '/favicon.ico' || path === '/favicon.svg' || /^\/assets\/[A-Za-z0-9._-]{1,200}$/.test(path);
}

/** Answers 404 for anything a tunnel may not carry; true when it did. Strips owner credentials. */
export function refuseOnTunnel(req: Http2ServerRequest, res: Http2ServerResponse): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  delete req.headers.cookie;
  if (!allowedOnTunnel(req.method, path, req.headers.authorization)) {
    const body = JSON.stringify({ error: 'not_found', reason: 'not_found', message: 'Not available through the relay.' });
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
    return true;
  }
  return false;
}

// Connection-specific headers mean nothing on an HTTP/2 stream; Node drops them with a warning.
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Lets the shared request handler (and tRPC's SSE writer) set HTTP/1.1 headers on a tunnel stream quietly. */
export function dropConnectionHeaders(res: Http2ServerResponse): void {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = ((name: string, value: number | string | readonly string[]) => (CONNECTION_HEADERS.has(name.toLowerCase()) ? res : setHeader(name, value))) as typeof res.setHeader;
  const writeHead = res.writeHead.bind(res) as (status: number, ...rest: unknown[]) => Http2ServerResponse;
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    const last = rest.at(-1);
    if (last && typeof last === 'object' && !Array.isArray(last)) {
      rest[rest.length - 1] = Object.fromEntries(Object.entries(last as Record<string, unknown>).filter(([name]) => !CONNECTION_HEADERS.has(name.toLowerCase())));
    }
    return writeHead(status, ...rest);
  }) as typeof res.writeHead;
}

/**
 * Node's compat response always asks for trailers (`waitForTrailers: true`), so the last DATA frame
 * goes out without END_STREAM and, once nghttp2 asks for the trailers, an empty DATA frame with
 * END_STREAM follows in a write of its own. Through the tunnel that is a second WebSocket message
 * after a later turn of the event loop (the previous write must finish first), and the relay, which
 * answers a small response whole, waits for it. The environment sends no trailers: END_STREAM rides
 * on the last DATA frame (or on HEADERS when there is no body).
 */
export function endStreamWithLastData(res: Http2ServerResponse): void {
  const stream = res.stream;
  const respond = stream.respond.bind(stream);
  stream.respond = (headers, options?: ServerStreamResponseOptions) => respond(headers, { ...options, waitForTrailers: false });
}

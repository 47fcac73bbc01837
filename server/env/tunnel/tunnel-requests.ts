// What the environment accepts on a tunnel stream (SPEC §11): the client API and the device page,
// never an owner credential or owner page, whatever the relay sends. Only on tunnel streams is the
// relay's `gatehouse-client-address` header believed.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

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
  if (path === '/oauth/token') return method === 'POST';
  if (path === '/healthz' || path === '/api/connect/config') return method === 'GET';
  if (path.startsWith('/trpc/')) return (method === 'GET' || method === 'POST') && /^DPoP /.test(authorization ?? '');
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

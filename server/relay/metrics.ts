// Prometheus metrics of one relay instance (SPEC §12), with prom-client: its own registry per
// instance (several relays in one process do not mix), served on a separate listener that is off
// by default and on loopback when on. Labels are a fixed set of routes, never ids or addresses.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isLoopbackAddress } from '../identity/dev-issuer';

/** The route a request is counted under: a small fixed set, so label cardinality stays bounded. */
export function routeOf(method: string, pathname: string, pageHost: boolean): string {
  if (pageHost) return 'device_page';
  if (pathname === '/oauth/token') return 'token';
  if (pathname.startsWith('/trpc/environments.connect')) return 'connect';
  if (pathname.startsWith('/trpc/')) return 'trpc_other';
  if (pathname.startsWith('/e/')) return 'routed';
  if (pathname === '/v1/links' || pathname.startsWith('/v1/links/')) return method === 'DELETE' ? 'unlink' : 'link';
  if (pathname.startsWith('/dev-issuer')) return 'dev_issuer';
  if (pathname === '/healthz' || pathname === '/readyz') return 'health';
  if (pathname.startsWith('/.well-known/')) return 'discovery';
  return 'other';
}

export function createRelayMetrics(opts: { tunnelsOpen: () => number; waitsHeld: () => number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_relay_process_' });
  const requests = new Counter({ name: 'gatehouse_relay_requests_total', help: 'HTTP requests answered, by route and status.', labelNames: ['route', 'status'] as const, registers: [registry] });
  const latency = new Histogram({
    name: 'gatehouse_relay_request_duration_seconds',
    help: 'Time from request to the end of the answer, by route (held waits and streams included).',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const streams = new Counter({ name: 'gatehouse_relay_tunnel_streams_total', help: 'HTTP/2 streams opened to environments through their tunnels.', registers: [registry] });
  const hopsForwarded = new Counter({
    name: 'gatehouse_relay_forwarded_hops_total',
    help: 'Requests forwarded over the internal hop to the instance holding the tunnel, by kind (routed, mint) and outcome (answered, holder_gone, timed_out, cancelled).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const hopsServed = new Counter({
    name: 'gatehouse_relay_internal_hop_requests_total',
    help: 'Requests other instances sent to this one over the internal hop, by outcome (served, refused: no proof of the shared secret).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const replayErrors = new Counter({ name: 'gatehouse_relay_replay_store_errors_total', help: 'Replay-store writes that failed (each refused the request).', registers: [registry] });
  new Gauge({ name: 'gatehouse_relay_tunnels_open', help: 'Environment tunnels this instance holds.', registers: [registry], collect() { this.set(opts.tunnelsOpen()); } });
  new Gauge({ name: 'gatehouse_relay_waits_held', help: 'Connect requests held open for an approval.', registers: [registry], collect() { this.set(opts.waitsHeld()); } });

  return {
    registry,
    /** Counts one request when its answer ends (or the caller leaves: status 499). */
    observe(req: IncomingMessage, res: ServerResponse, route: string): void {
      const end = latency.startTimer({ route });
      res.once('close', () => {
        requests.inc({ route, status: String(res.writableFinished ? res.statusCode : 499) });
        end();
      });
    },
    streamOpened: () => streams.inc(),
    replayStoreFailed: () => replayErrors.inc(),
    /** The internal hop's side (SPEC §12): what this instance forwarded, and what it served for others. */
    hops: {
      forwarded: (kind: string, outcome: string) => hopsForwarded.inc({ kind, outcome }),
      served: (outcome: string) => hopsServed.inc({ outcome }),
    },
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;

export async function startMetricsServer(metrics: RelayMetrics, listen: { host: string; port: number }): Promise<{ server: Server; url: string }> {
  if (listen.host !== 'localhost' && !isLoopbackAddress(listen.host)) {
    console.warn(`[gatehouse relay] metrics on ${listen.host}: not loopback. Anyone who reaches it sees this instance's traffic counts.`);
  }
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return void res.end('Only GET /metrics here.\n');
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(listen.port, listen.host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}/metrics` };
}

// A tiny HTTP load balancer on 127.0.0.1 in front of relay instances "a" and "b", for tests and
// benchmarks of several relays behind one public URL (SPEC §9): round robin, or pinned (for
// everything, or per request by the `x-test-backend` header).
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Backend = 'a' | 'b';
/** A request carrying this header with "a" or "b" goes to that instance whatever the mode. */
export const PIN_HEADER = 'x-test-backend';

/** How long the balancer keeps an idle connection to a backend. */
export const UPSTREAM_IDLE_MS = 30_000;
/** How long a backend should keep an idle keep-alive connection: longer than UPSTREAM_IDLE_MS. */
export const BACKEND_IDLE_MS = 65_000;
/** How long the balancer keeps an idle client connection. */
const CLIENT_IDLE_MS = 60_000;

export interface LoadBalancer {
  url: string;
  /** Every request passed on, in order (empty when started with `log: false`). */
  log: Array<{ backend: Backend; method: string; path: string }>;
  /** Requests passed on to each instance so far (counted even with `log: false`). */
  counts: Record<Backend, number>;
  setBackend(name: Backend, port: number): void;
  route(mode: Backend | 'round-robin'): void;
  close(): Promise<void>;
}

export async function startLoadBalancer(opts: { log?: boolean } = {}): Promise<LoadBalancer> {
  const keepLog = opts.log ?? true;
  const backends: Partial<Record<Backend, number>> = {};
  const log: LoadBalancer['log'] = [];
  const counts: Record<Backend, number> = { a: 0, b: 0 };
  let mode: Backend | 'round-robin' = 'round-robin';
  let turn = 0;
  // Kept-alive upstream connections, as a real balancer keeps them, dropped after UPSTREAM_IDLE_MS
  // idle: backends behind it must keep idle connections open longer than that (BACKEND_IDLE_MS),
  // or a request can meet a connection the backend is just closing and fail with a bare 502.
  const agent = new Agent({ keepAlive: true, timeout: UPSTREAM_IDLE_MS });
  const server: Server = createServer((req, res) => {
    const pinned = req.headers[PIN_HEADER];
    const backend: Backend = pinned === 'a' || pinned === 'b' ? pinned : mode !== 'round-robin' ? mode : turn++ % 2 === 0 ? 'a' : 'b';
    counts[backend]++;
    if (keepLog) log.push({ backend, method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]! });
    const upstream = request({ host: '127.0.0.1', port: backends[backend], method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.keepAliveTimeout = CLIENT_IDLE_MS;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    counts,
    setBackend: (name, port) => void (backends[name] = port),
    route: (m) => void (mode = m),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
        agent.destroy();
      }),
  };
}

/** A fetch that sends every request to one instance behind the balancer. */
export const pinnedFetch =
  (backend: Backend): typeof fetch =>
  (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set(PIN_HEADER, backend);
    return fetch(input, { ...init, headers });
  };

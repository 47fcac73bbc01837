// A tiny HTTP load balancer on 127.0.0.1 in front of relay instances "a", "b" (and "c"), for tests
// and benchmarks of several relays behind one public URL (SPEC §9, §12): round robin over the
// instances set, or pinned (for everything, or per request by the `x-test-backend` header).
// WebSocket upgrades (tunnels) pass through as raw TCP; an instance that refuses the connection
// (killed) is skipped for the next one, as a balancer's health check would.
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export type Backend = 'a' | 'b' | 'c';
const BACKENDS: Backend[] = ['a', 'b', 'c'];
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
  /** Takes an instance out of the rotation (as a failed health check does). */
  removeBackend(name: Backend): void;
  route(mode: Backend | 'round-robin'): void;
  close(): Promise<void>;
}

export async function startLoadBalancer(opts: { log?: boolean } = {}): Promise<LoadBalancer> {
  const keepLog = opts.log ?? true;
  const backends: Partial<Record<Backend, number>> = {};
  const log: LoadBalancer['log'] = [];
  const counts: Record<Backend, number> = { a: 0, b: 0, c: 0 };
  let mode: Backend | 'round-robin' = 'round-robin';
  let turn = 0;
  // Kept-alive upstream connections, as a real balancer keeps them, dropped after UPSTREAM_IDLE_MS
  // idle: backends behind it must keep idle connections open longer than that (BACKEND_IDLE_MS),
  // or a request can meet a connection the backend is just closing and fail with a bare 502.
  const agent = new Agent({ keepAlive: true, timeout: UPSTREAM_IDLE_MS });
  const isBackend = (value: unknown): value is Backend => BACKENDS.includes(value as Backend);
  function choose(req: IncomingMessage): Backend {
    const pinned = req.headers[PIN_HEADER];
    if (isBackend(pinned)) return pinned;
    if (mode !== 'round-robin') return mode;
    const live = BACKENDS.filter((b) => backends[b] !== undefined);
    return live[turn++ % live.length] ?? 'a';
  }
  const upgrades = new Set<Socket | Duplex>();
  const server: Server = createServer((req, res) => {
    const backend = choose(req);
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
  server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    upgrades.add(client);
    client.on('close', () => upgrades.delete(client));
    client.on('error', () => client.destroy());
    const first = choose(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const tryFrom = (attempt: number) => {
      const pinned = isBackend(req.headers[PIN_HEADER]) || mode !== 'round-robin';
      const backend = attempt === 0 || pinned ? first : choose(req);
      const port = backends[backend];
      if (port === undefined || attempt > BACKENDS.length) return client.destroy();
      const upstream = connect({ host: '127.0.0.1', port });
      let connected = false;
      upstream.once('error', () => {
        // Refused (a killed instance): the next one, unless the caller pinned this one.
        if (!connected && !pinned && !client.destroyed) return tryFrom(attempt + 1);
        client.destroy();
      });
      upstream.once('connect', () => {
        connected = true;
        counts[backend]++;
        if (keepLog) log.push({ backend, method: req.method ?? 'GET', path });
        upgrades.add(upstream);
        upstream.on('close', () => {
          upgrades.delete(upstream);
          client.destroy();
        });
        client.on('close', () => upstream.destroy());
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
    };
    tryFrom(0);
  });
  server.keepAliveTimeout = CLIENT_IDLE_MS;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    counts,
    setBackend: (name, port) => void (backends[name] = port),
    removeBackend: (name) => void delete backends[name],
    route: (m) => void (mode = m),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        for (const socket of upgrades) socket.destroy();
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

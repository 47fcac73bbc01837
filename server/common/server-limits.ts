// Bounds on how long a caller may take to send a request, and how many connections it may hold
// (S55). Node's defaults let a body that declared 4,000 bytes and sent 5 hold a socket for minutes.
import { createServer, type RequestListener, type Server } from 'node:http';

export interface ServerLimits {
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (measured from its start). */
  requestTimeoutMs: number;
  /** Open sockets beyond this are closed at once. */
  maxConnections: number;
  /** How often Node looks for connections past those deadlines. */
  checkIntervalMs: number;
}

/**
 * The cap sits above the flood bench's 1,000 requests in flight. Only *receiving* a request is timed:
 * a long-poll or an event stream whose request has arrived keeps its connection as long as it answers.
 */
export const SERVER_LIMITS: ServerLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 15_000, maxConnections: 4096, checkIntervalMs: 1_000 };

/** An HTTP server with the limits above (the env and the relay both use it). */
export function createBoundedServer(handler?: RequestListener, limits: ServerLimits = SERVER_LIMITS): Server {
  const server = createServer(
    { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  return server;
}

// One JSON line per request (SPEC §12), with pino: a request id (also sent back as
// `x-request-id`), method, route, path without its query, status and duration. Never a header, a
// body or a query string, so no token, proof or credential can reach the log.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';

export interface RequestLog {
  logger: Logger;
  /** Logs `req` once its answer ends (or the caller leaves: status 499). */
  observe(req: IncomingMessage, res: ServerResponse, route: string, opts?: ObserveOptions): void;
}

export interface ObserveOptions {
  /** Fixed words about the request (e.g. `via: 'tunnel'`), never anything the caller chose. */
  fields?: Record<string, string>;
  /** An id given by the hop before (the relay's, on a tunnel stream): both lines then share it. */
  requestId?: string | undefined;
  /** Send the id back as `x-request-id` (default true; the relay already does for tunnel streams). */
  sendHeader?: boolean;
}

/** The header a relay passes its request id on, to the environment and to another instance. */
export const REQUEST_ID_HEADER = 'gatehouse-request-id';
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A request id handed on by a trusted hop, if it has the shape we make (anything else is dropped). */
export function requestIdOf(value: unknown): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

const MAX_PATH = 200;

/**
 * Whether the answer went out whole. On an HTTP/2 stream (a tunnel) 'close' can come before the
 * compat response calls itself finished; there an ended answer on a stream the peer did not reset counts.
 */
function answered(res: ServerResponse): boolean {
  if (res.writableFinished) return true;
  const stream = (res as unknown as { stream?: { rstCode?: number } }).stream;
  return stream !== undefined && res.writableEnded && !stream.rstCode;
}

export function createRequestLog(service: 'relay' | 'env', destination?: DestinationStream): RequestLog {
  const logger = pino({ base: { service }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination({ dest: 1, sync: false }));
  return {
    logger,
    observe(req, res, route, opts = {}) {
      const reqId = opts.requestId ?? randomUUID();
      const started = process.hrtime.bigint();
      if (opts.sendHeader !== false && !res.headersSent) res.setHeader('x-request-id', reqId);
      res.once('close', () => {
        const path = (req.url ?? '/').split('?')[0]!.slice(0, MAX_PATH).replace(/[^\x21-\x7e]/g, '?');
        logger.info({
          reqId,
          method: req.method,
          route,
          ...opts.fields,
          path,
          status: answered(res) ? res.statusCode : 499,
          ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        });
      });
    },
  };
}

// One JSON line per request (SPEC §12), with pino: a request id (also sent back as
// `x-request-id`), method, route, path without its query, status and duration. Never a header, a
// body or a query string, so no token, proof or credential can reach the log.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';

export interface RequestLog {
  logger: Logger;
  /** Logs `req` once its answer ends (or the caller leaves: status 499). */
  observe(req: IncomingMessage, res: ServerResponse, route: string): void;
}

const MAX_PATH = 200;

export function createRequestLog(service: 'relay' | 'env', destination?: DestinationStream): RequestLog {
  const logger = pino({ base: { service }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination({ dest: 1, sync: false }));
  return {
    logger,
    observe(req, res, route) {
      const reqId = randomUUID();
      const started = process.hrtime.bigint();
      if (!res.headersSent) res.setHeader('x-request-id', reqId);
      res.once('close', () => {
        const path = (req.url ?? '/').split('?')[0]!.slice(0, MAX_PATH).replace(/[^\x21-\x7e]/g, '?');
        logger.info({
          reqId,
          method: req.method,
          route,
          path,
          status: res.writableFinished ? res.statusCode : 499,
          ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        });
      });
    },
  };
}

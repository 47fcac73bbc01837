import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock, type Clock } from './clock';
import { DomainError, httpStatusOf } from './errors';
import { createLineThrottle } from './security-log';
import { wwwAuthenticate, type ChallengeScheme } from './www-authenticate';

/**
 * An over-limit body that declared a length up to this is read and dropped before the 413, so the
 * connection stays usable; anything larger, or of unknown length, is refused at once and the
 * connection closed rather than read on.
 */
export const MAX_DISCARDED_BODY_BYTES = 256 * 1024;

export class BodyTooLargeError extends DomainError {
  constructor(
    limit: number,
    /** The Content-Length that was refused, when the request declared one. */
    readonly declaredLength: number | null = null,
  ) {
    super('payload_too_large', 'invalid_request', `The request body is larger than ${limit} bytes.`);
  }
}

/** Reads and drops a body, so the answer leaves a connection ready for its next request. */
function discardBody(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
    req.resume();
  });
}

/** Reads a request body up to `limit` bytes; larger bodies are refused without buffering them. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    if (declared <= MAX_DISCARDED_BODY_BYTES) await discardBody(req);
    throw new BodyTooLargeError(limit, declared);
  }
  if (req.readableEnded) return Buffer.alloc(0);
  // Events, not `for await`, and one listener for 'end', 'error' and 'close': cheaper per small request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settle(new BodyTooLargeError(limit)); // the rest flows on unbuffered, so an answer (413) can still be sent
        return;
      }
      chunks.push(chunk);
    };
    const settle = (error?: unknown) => {
      req.off('data', onData);
      req.off('end', settle);
      req.off('error', settle);
      req.off('close', settle);
      if (error instanceof Error) reject(error);
      else if (req.readableEnded) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      else reject(new DomainError('bad_request', 'invalid_request', 'The request ended before its body did.'));
    };
    req.on('data', onData);
    req.on('end', settle);
    req.on('error', settle);
    req.on('close', settle);
  });
}

/** Parses a JSON or form body into a plain object; anything else is a clean 400. */
export async function readObjectBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const raw = (await readBody(req, limit)).toString('utf8');
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const params = new URLSearchParams(raw);
    const out: Record<string, unknown> = {};
    for (const key of new Set(params.keys())) {
      const values = params.getAll(key);
      if (values.length > 1) throw new DomainError('bad_request', 'invalid_request', `The form field "${key}" is repeated.`);
      out[key] = values[0];
    }
    return out;
  }
  if (type === 'application/json' || type === '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new DomainError('bad_request', 'invalid_request', 'The request body is not valid JSON.');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new DomainError('bad_request', 'invalid_request', 'The request body must be a JSON object.');
    }
    return parsed as Record<string, unknown>;
  }
  throw new DomainError('bad_request', 'invalid_request', `Unsupported content type "${type.slice(0, 60)}".`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

export interface SendErrorOptions {
  /** The schemes a 401 challenges for (RFC 9110 §15.5.2: every 401 carries WWW-Authenticate); DPoP unless told. */
  challenge?: readonly ChallengeScheme[];
  /** An OAuth endpoint (RFC 6749 §5.2, RFC 8693 §2.2.2): `error` is an OAuth error code. */
  oauth?: boolean;
}

/** Seconds a client waits before trying a 503 again (RFC 9110 §10.2.3). */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * Plain endpoints answer errors as `{error, error_description, reason, message}` (`error_description`
 * is the message, for OAuth clients); unknown failures never leak details.
 */
export function sendError(res: ServerResponse, error: unknown, headers: Record<string, string> = {}, opts: SendErrorOptions = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof DomainError) {
    // Only a body too large to discard cheaply ends the connection: a reconnect per refusal is costly.
    const discard = error instanceof BodyTooLargeError && error.declaredLength !== null && error.declaredLength <= MAX_DISCARDED_BODY_BYTES;
    const close = error instanceof BodyTooLargeError && !discard;
    const status = httpStatusOf[error.kind];
    const extra: Record<string, string> = {};
    if (close) extra.connection = 'close';
    if (status === 401 && !hasHeader(headers, 'www-authenticate')) extra['www-authenticate'] = wwwAuthenticate(opts.challenge ?? ['DPoP'], error.reason, error.message);
    if (status === 503 && !hasHeader(headers, 'retry-after')) extra['retry-after'] = String(UNAVAILABLE_RETRY_AFTER_SECONDS);
    const code = opts.oauth ? oauthErrorCodeOf(error) : errorCodeOf(error);
    sendJson(res, status, { error: code, error_description: error.message, reason: error.reason, message: error.message }, { ...headers, ...extra });
    return;
  }
  logUnexpected(error);
  sendJson(res, 500, { error: 'server_error', error_description: 'Internal server error.', reason: 'internal', message: 'Internal server error.' }, headers);
}

const hasHeader = (headers: Record<string, string>, name: string) => Object.keys(headers).some((key) => key.toLowerCase() === name);

/** A caller that hangs up mid-request (`aborted`, ECONNRESET) is no server fault: said at most once a minute. */
const isCallerAbort = (error: unknown): boolean =>
  error instanceof Error && ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || error.message === 'aborted');

/** Where those lines go and the clock their window follows; tests swap both. */
export const unexpectedErrorLog: { sink: (line: string) => void; clock: Clock } = { sink: (line) => console.error(line), clock: systemClock };
// A hang-up storm logged one line per request; now one line a minute and a count.
const abortLines = createLineThrottle({
  sink: (line) => unexpectedErrorLog.sink(line),
  clock: { now: () => unexpectedErrorLog.clock.now() },
  windowMs: 60_000,
  max: 1,
  suppressed: (_key, n) => `[gatehouse] ${n} more caller(s) aborted their request in the last minute`,
});

function logUnexpected(error: unknown): void {
  if (isCallerAbort(error)) return abortLines('aborted', () => '[gatehouse] a caller aborted its request (further ones are counted, one line a minute)');
  unexpectedErrorLog.sink(`[gatehouse] unexpected error: ${error instanceof Error ? error.message : String(error)}`);
}

const OAUTH_REASONS = new Set<string>(['invalid_dpop_proof', 'invalid_grant', 'invalid_request', 'invalid_token', 'invalid_client', 'invalid_target', 'unsupported_grant_type']);

function errorCodeOf(error: DomainError): string {
  // OAuth endpoints speak RFC 6749/9449 error codes; the reason carries the same where it fits.
  if (OAUTH_REASONS.has(error.reason)) return error.reason;
  return error.kind;
}

/**
 * The RFC 6749 §5.2 / RFC 8693 §2.2.2 `error` of a token endpoint. A token exchange has no grant of
 * its own: an unusable subject token is `invalid_request` (the reason stays `invalid_grant`).
 */
function oauthErrorCodeOf(error: DomainError): string {
  if (error.reason === 'invalid_grant') return 'invalid_request';
  if (error.kind === 'unavailable') return 'temporarily_unavailable';
  if (error.kind === 'internal') return 'server_error';
  if (OAUTH_REASONS.has(error.reason)) return error.reason;
  return error.kind === 'bad_request' ? 'invalid_request' : error.kind;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** Origin of a URL, normalised (lower-case, default port dropped) for equality checks. */
export const originOf = (url: string): string => new URL(url).origin;

// Security log (SECURITY S46): replayed and refused proofs as one warning line each, rate-limited
// per kind, with the thumbprint when it is known and a hash of the jti. Never a proof, a token or
// a credential: callers pass only the fields below, and every field is cleaned and capped here.
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from './clock';

export type SecurityEventKind = 'dpop_replayed' | 'dpop_invalid' | 'mint_replayed' | 'link_changed' | 'link_refused' | 'tunnel_opened' | 'tunnel_refused';

export interface SecurityEvent {
  kind: SecurityEventKind;
  /** Where it was seen, e.g. "env POST /oauth/token". */
  where: string;
  /** The proof key's thumbprint, when a signature vouched for it. */
  thumbprint?: string | null | undefined;
  /** The proof's or request's jti: only a hash of it is written. */
  jti?: string | null | undefined;
  /** The environment a link or tunnel event is about. */
  environmentId?: string | undefined;
  /** The account a link event is about. */
  accountId?: string | undefined;
  /** Why a proof was refused: the verifier's message (fixed text that never echoes the proof). */
  reason?: string | undefined;
}

export interface SecurityLog {
  record(event: SecurityEvent): void;
}

export const SECURITY_LOG_WINDOW_MS = 10_000;
export const SECURITY_LOG_MAX_PER_WINDOW = 20;
const PREFIX = '[gatehouse security]';

/** The first 16 hex digits of sha256(jti): enough to correlate lines, useless for replaying anything. */
export const jtiHash = (jti: string): string => createHash('sha256').update(jti).digest('hex').slice(0, 16);

/** Printable ASCII only (no line breaks or escapes to forge log lines), capped. */
const clean = (text: string, max: number): string => text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

function format(event: SecurityEvent): string {
  const fields = [`at=${clean(event.where, 80)}`];
  if (event.environmentId) fields.push(`environment=${clean(event.environmentId, 64)}`);
  if (event.accountId) fields.push(`account=${clean(event.accountId, 128)}`);
  if (event.thumbprint) fields.push(`thumbprint=${clean(event.thumbprint, 64)}`);
  if (event.jti) fields.push(`jti_sha256=${jtiHash(event.jti)}`);
  if (event.reason) fields.push(`reason="${clean(event.reason, 120).replace(/"/g, "'")}"`);
  return `${PREFIX} ${event.kind} ${fields.join(' ')}`;
}

/**
 * At most `max` lines per key in each window of `windowMs`; the first line of a key in a later
 * window is preceded by `suppressed(key, n, windowMs)` when the previous window dropped n of them.
 * Lines are built only when they go out.
 */
export function createLineThrottle(opts: {
  sink: (line: string) => void;
  clock: Clock;
  windowMs: number;
  max: number;
  suppressed: (key: string, n: number, windowMs: number) => string;
}): (key: string, line: () => string) => void {
  const windows = new Map<string, { start: number; lines: number; suppressed: number }>();
  return (key, line) => {
    const now = opts.clock.now();
    let window = windows.get(key);
    if (!window || now - window.start >= opts.windowMs || now < window.start) {
      if (window && window.suppressed > 0) opts.sink(opts.suppressed(key, window.suppressed, opts.windowMs));
      window = { start: now, lines: 0, suppressed: 0 };
      windows.set(key, window);
    }
    if (window.lines >= opts.max) {
      window.suppressed++;
      return;
    }
    window.lines++;
    opts.sink(line());
  };
}

/** At most `maxPerWindow` lines per kind in each window of `windowMs`, then one "suppressed" line. */
export function createSecurityLog(
  opts: { sink?: (line: string) => void; clock?: Clock; windowMs?: number; maxPerWindow?: number } = {},
): SecurityLog {
  const throttle = createLineThrottle({
    sink: opts.sink ?? ((line: string) => console.warn(line)),
    clock: opts.clock ?? systemClock,
    windowMs: opts.windowMs ?? SECURITY_LOG_WINDOW_MS,
    max: opts.maxPerWindow ?? SECURITY_LOG_MAX_PER_WINDOW,
    suppressed: (kind, n, windowMs) => `${PREFIX} ${kind} suppressed ${n} more line(s) in ${windowMs / 1000} s`,
  });
  return { record: (event) => throttle(event.kind, () => format(event)) };
}

/** The process-wide log (console.warn, wall clock); services take `deps.securityLog` first, so tests pass their own. */
export const defaultSecurityLog: SecurityLog = createSecurityLog();

export const securityLogOf = (deps: { securityLog?: SecurityLog | undefined }): SecurityLog => deps.securityLog ?? defaultSecurityLog;

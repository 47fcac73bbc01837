// What both ends of a tunnel agree on (SPEC §11): the WebSocket subprotocol, the auth scheme, and
// liveness by HTTP/2 PING.
import type { Http2Session } from 'node:http2';
import type { Duplex } from 'node:stream';

export const TUNNEL_PATH = '/v1/tunnel';
export const TUNNEL_SUBPROTOCOL = 'gatehouse-tunnel.1';
export const TUNNEL_AUTH_SCHEME = 'Gatehouse-Tunnel';
export const PING_INTERVAL_MS = 15_000;
export const DEAD_AFTER_MS = 45_000;
/** A replaced tunnel may finish its open streams for this long (SPEC §11). */
export const REPLACED_DRAIN_MS = 30_000;
/** One WebSocket message carries at most one write of the HTTP/2 connection; frames are ≤ 16 KB. */
export const TUNNEL_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface LivenessOptions {
  pingIntervalMs?: number;
  deadAfterMs?: number;
}

/**
 * PINGs the peer every interval; a session with no PING answered for `deadAfterMs` is dead.
 * Returns the time of the last answer, so status reflects real traffic, not a socket that exists.
 */
export function keepAlive(session: Http2Session, opts: LivenessOptions, onDead: () => void): { lastAnsweredAt: () => number; stop: () => void } {
  const intervalMs = opts.pingIntervalMs ?? PING_INTERVAL_MS;
  const deadAfterMs = opts.deadAfterMs ?? DEAD_AFTER_MS;
  let lastAnsweredAt = Date.now();
  const timer = setInterval(() => {
    if (session.destroyed || session.closed) return stop();
    if (Date.now() - lastAnsweredAt > deadAfterMs) {
      stop();
      return onDead();
    }
    try {
      session.ping((error) => {
        if (!error) lastAnsweredAt = Date.now();
      });
    } catch {
      // Too many unanswered PINGs in flight, or the session is closing: the deadline decides.
    }
  }, intervalMs);
  timer.unref();
  function stop() {
    clearInterval(timer);
  }
  return { lastAnsweredAt: () => lastAnsweredAt, stop };
}

/** One coalesced WebSocket message stays far below the tunnel's message cap. */
const MAX_COALESCED_BYTES = 256 * 1024;

/**
 * ws sends every write as its own WebSocket message, one socket write each. HTTP/2 hands a small
 * answer over as several buffers at once (HEADERS, DATA frame header, payload, END_STREAM); sent
 * as one message they cost one write here and one message to parse at the relay, instead of four.
 * HTTP/2 is a byte stream, so where messages split does not matter to the relay.
 */
export function coalesceWrites(duplex: Duplex): Duplex {
  duplex._writev = (chunks, callback) => {
    const groups: Buffer[][] = [[]];
    let size = 0;
    for (const { chunk } of chunks as { chunk: Buffer }[]) {
      if (size + chunk.byteLength > MAX_COALESCED_BYTES && groups.at(-1)!.length) {
        groups.push([]);
        size = 0;
      }
      groups.at(-1)!.push(chunk);
      size += chunk.byteLength;
    }
    let left = groups.length;
    let failed = false;
    for (const group of groups) {
      duplex._write(group.length === 1 ? group[0] : Buffer.concat(group), 'binary', (error) => {
        if (failed) return;
        if (error) {
          failed = true;
          return callback(error);
        }
        if (--left === 0) callback();
      });
    }
  };
  return duplex;
}

// The caller's address as the relay reports it (S44 rate limits and S54 wait shares at the
// environment, the signed `source` of a mint request). Behind a reverse proxy every connection comes
// from the proxy, so for connections from a proxy the operator named (`--trust-proxy`) the address
// is the last one in X-Forwarded-For — the one that proxy added; from anyone else the header is ignored.
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

const plain = (address: string): string => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

export function createCallerAddress(trustedProxies: readonly string[] = []): (req: IncomingMessage) => string {
  const trusted = new Set(trustedProxies.map(plain));
  return (req) => {
    const peer = plain(req.socket.remoteAddress ?? '');
    if (!trusted.has(peer)) return peer;
    const forwarded = req.headers['x-forwarded-for'];
    const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').at(-1)?.trim() ?? '';
    return isIP(last) ? plain(last) : peer;
  };
}

/** `--trust-proxy` values: IP addresses only (a proxy is named by where it connects from). */
export function checkTrustedProxies(values: readonly string[]): string[] {
  for (const value of values) if (!isIP(value)) throw new TypeError(`--trust-proxy takes IP addresses (e.g. 127.0.0.1), not "${value.slice(0, 100)}".`);
  return [...values];
}

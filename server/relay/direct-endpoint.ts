// Calls to an environment's direct endpoint (SPEC §11, SECURITY S52). The relay is no scanner: the
// address actually dialled is checked (in the socket's own lookup, so a DNS answer cannot change
// between check and connect), private targets are refused unless the operator allows them, no
// redirect is followed, and the caller learns only a stable reason, never an upstream status.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type RequestOptions } from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { DomainError } from '../common/errors';

const privateRanges = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  privateRanges.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) {
  privateRanges.addSubnet(net, prefix, 'ipv6');
}

/** Loopback, private, link-local, unique-local, multicast and reserved addresses (IPv4-mapped too). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return privateRanges.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return privateRanges.check(mapped[1]!, 'ipv4');
    return privateRanges.check(address, 'ipv6');
  }
  return true; // not an address at all: never dial it
}

export interface DirectEndpointPolicy {
  /** Any private target allowed (`--allow-private-endpoints`). */
  allowPrivate: boolean;
  /** Origins allowed even when private (the embedded default's own environment). */
  allowedOrigins: readonly string[];
}

const notAllowed = () =>
  new DomainError('forbidden', 'endpoint_not_allowed', 'The environment’s direct endpoint is not an address this relay may call.');

/** A socket lookup that refuses private answers unless allowed: the address dialled is the address checked. */
export function checkingLookup(policy: DirectEndpointPolicy, origin: string): LookupFunction {
  const exempt = policy.allowPrivate || policy.allowedOrigins.includes(origin);
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const usable = exempt ? addresses : addresses.filter((a) => !isPrivateAddress(a.address));
      if (usable.length === 0) return callback(Object.assign(new Error('endpoint address not allowed'), { code: 'GATEHOUSE_ENDPOINT_NOT_ALLOWED' }), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}

/** POSTs JSON to `{endpoint}{path}`; the answer's status and at most `maxBytes` of its body. */
export function postToDirectEndpoint(
  endpoint: string,
  path: string,
  body: string,
  opts: { policy: DirectEndpointPolicy; signal: AbortSignal; maxBytes: number },
): Promise<{ status: number; body: string }> {
  const url = new URL(`${endpoint}${path}`);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && isPrivateAddress(literal) && !opts.policy.allowPrivate && !opts.policy.allowedOrigins.includes(url.origin)) return Promise.reject(notAllowed());
  const request: RequestOptions = {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
    lookup: checkingLookup(opts.policy, url.origin),
    signal: opts.signal,
  };
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, request, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > opts.maxBytes) {
          req.destroy();
          reject(new DomainError('bad_gateway', 'endpoint_response_invalid', 'The environment answered with an oversized body.'));
        } else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => reject(new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not be reached.')));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'GATEHOUSE_ENDPOINT_NOT_ALLOWED') return reject(notAllowed());
      if (opts.signal.aborted) return reject(opts.signal.reason);
      reject(new DomainError('bad_gateway', 'endpoint_request_failed', 'The environment could not be reached.'));
    });
    req.end(body);
  });
}

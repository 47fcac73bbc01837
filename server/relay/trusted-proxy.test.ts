// Behind a reverse proxy every device connects from the proxy's address. With `--trust-proxy` the
// relay reports the address the proxy forwarded (X-Forwarded-For, last entry), so the environment's
// per-source limit on new devices (S44) counts devices, not the proxy; without it, or from anyone
// the operator did not name, the header changes nothing.
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectFailedError, ConnectionBlockedError } from '../../shared/client/errors';
import { startStack, type Stack } from '../testing/stack';
import { checkTrustedProxies, createCallerAddress } from './client-address';

/** Each new device may ask once per source; a second new device from the same source is refused. */
const onePerSource = { newClientRateLimitPerSource: { perSecond: 0.001, burst: 1 } };

async function askAs(stack: Stack, forwardedFor: string): Promise<'pending' | 'rate_limited'> {
  const withHeader: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('x-forwarded-for', forwardedFor);
    return fetch(input, { ...init, headers });
  };
  try {
    await stack.connect(await stack.newSigner(), { wait: false, fetch: withHeader });
  } catch (error) {
    if (error instanceof ConnectionBlockedError && error.approvalStatus === 'pending') return 'pending';
    if (error instanceof ConnectFailedError && error.reason === 'rate_limited') return 'rate_limited';
    throw error;
  }
  throw new Error('a new device was let in while approval is required');
}

let trusting: Stack;
let plain: Stack;
beforeAll(async () => {
  [trusting, plain] = await Promise.all([
    startStack({ relay: { trustedProxies: ['127.0.0.1'] }, env: onePerSource }),
    startStack({ env: onePerSource }),
  ]);
  for (const s of [trusting, plain]) await s.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
});
afterAll(async () => {
  await trusting?.close();
  await plain?.close();
});

describe('--trust-proxy', () => {
  it('a trusted proxy’s X-Forwarded-For is the source the environment limits by', async () => {
    expect(await askAs(trusting, '203.0.113.7')).toBe('pending');
    expect(await askAs(trusting, '198.51.100.1, 203.0.113.8')).toBe('pending'); // the last entry is the proxy's word
    expect(await askAs(trusting, '203.0.113.7')).toBe('rate_limited');
  });

  it('without it the header is ignored: every device is the proxy', async () => {
    expect(await askAs(plain, '203.0.113.7')).toBe('pending');
    expect(await askAs(plain, '203.0.113.9')).toBe('rate_limited');
  });

  it('believes only the named proxies, and only an IP address', () => {
    const callerAddress = createCallerAddress(['127.0.0.1']);
    const req = (peer: string, xff?: string | string[]) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
    expect(callerAddress(req('::ffff:127.0.0.1', '203.0.113.7'))).toBe('203.0.113.7');
    expect(callerAddress(req('192.0.2.10', '203.0.113.7'))).toBe('192.0.2.10');
    expect(callerAddress(req('127.0.0.1', 'not-an-address'))).toBe('127.0.0.1');
    expect(callerAddress(req('127.0.0.1', ['198.51.100.1', '2001:db8::1']))).toBe('2001:db8::1');
    expect(callerAddress(req('127.0.0.1'))).toBe('127.0.0.1');
    expect(() => checkTrustedProxies(['nginx.internal'])).toThrow(/IP addresses/);
  });
});

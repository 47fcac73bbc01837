// S52: the relay calls a direct endpoint only at an address it may call, follows no redirect, and
// never tells the caller what the upstream said.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectFailedError } from '../../shared/client/errors';
import { startStack, type Stack } from '../testing/stack';
import { isPrivateAddress, postToDirectEndpoint } from './direct-endpoint';

let hits: string[] = [];
let upstream: Server;
let upstreamUrl: string;
beforeAll(async () => {
  upstream = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url?.startsWith('/redirect')) {
      res.writeHead(302, { location: `${upstreamUrl}/elsewhere` });
      return void res.end();
    }
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal admin panel: secret-token-123');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

const strict = { allowPrivate: false, allowedOrigins: [] as string[] };
const post = (endpoint: string, policy = strict) => postToDirectEndpoint(endpoint, '/api/connect/mint-credential', '{}', { policy, signal: AbortSignal.timeout(5000), maxBytes: 1024 });

describe('S52 addresses', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:10.0.0.1', true],
    ['not-an-ip', true],
    ['8.8.8.8', false],
    ['172.32.0.1', false],
    ['2606:4700::1', false],
  ])('%s is private: %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });

  it('refuses a loopback literal and a name that resolves to loopback, before any connection', async () => {
    hits = [];
    const port = new URL(upstreamUrl).port;
    await expect(post(upstreamUrl)).rejects.toMatchObject({ reason: 'endpoint_not_allowed' });
    await expect(post(`http://localhost:${port}`)).rejects.toMatchObject({ reason: 'endpoint_not_allowed' });
    await expect(post(`http://[::1]:${port}`)).rejects.toMatchObject({ reason: 'endpoint_not_allowed' });
    expect(hits).toEqual([]);
  });

  it('calls a private address only when the operator allows it, or for an allowed origin', async () => {
    hits = [];
    expect((await post(upstreamUrl, { allowPrivate: true, allowedOrigins: [] })).status).toBe(500);
    expect((await post(upstreamUrl, { allowPrivate: false, allowedOrigins: [upstreamUrl] })).status).toBe(500);
    expect(hits).toHaveLength(2);
  });

  it('follows no redirect', async () => {
    hits = [];
    expect((await post(`${upstreamUrl}/redirect`, { allowPrivate: true, allowedOrigins: [] })).status).toBe(302);
    expect(hits).toEqual(['/redirect/api/connect/mint-credential']);
  });
});

describe('S52 through environments.connect', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ direct: true });
  });
  afterAll(async () => stack.close());

  it('an upstream status and body never reach the caller: only the stable reason', async () => {
    const link = (await stack.relay.deps.store.getLink(stack.env.environmentId))!;
    await stack.relay.deps.store.saveLink({ ...link, endpoint: upstreamUrl }, Date.now());
    hits = [];
    const error = await stack.connect(await stack.newSigner(), { wait: false }).catch((e) => e);
    expect(error).toBeInstanceOf(ConnectFailedError);
    expect(error.reason).toBe('endpoint_request_failed');
    expect(error.message).not.toMatch(/500|secret|admin/);
    expect(hits).toHaveLength(1);
    for (const redirect of [`${upstreamUrl}/redirect`]) {
      await stack.relay.deps.store.saveLink({ ...link, endpoint: redirect }, Date.now());
      const refused = await stack.connect(await stack.newSigner(), { wait: false }).catch((e) => e);
      expect(refused.reason).toBe('endpoint_request_failed');
      expect(refused.message).not.toMatch(/302|elsewhere/);
    }
    expect(hits).not.toContain('/elsewhere');
  });

  it('a relay that does not allow private endpoints will not call one', async () => {
    const strictStack = await startStack({ direct: true, relay: { allowPrivateEndpoints: false } });
    try {
      const error = await strictStack.connect(await strictStack.newSigner(), { wait: false }).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectFailedError);
      expect(error.reason).toBe('endpoint_not_allowed');
    } finally {
      await strictStack.close();
    }
  });
});

// SPEC §12 metrics: off by default; on a loopback listener when asked; counts move with traffic;
// labels are fixed routes, never an id, an address or a token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../testing/stack';
import { routeOf } from './metrics';

const value = (text: string, line: RegExp): number => Number(new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('relay metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ relay: { metricsListen: { host: '127.0.0.1', port: 0 } } });
  });
  afterAll(async () => stack.close());

  it('is off unless asked for', async () => {
    const plain = await startStack();
    try {
      expect(plain.relay.metricsUrl).toBeNull();
      expect((await fetch(`${plain.relay.publicUrl}/metrics`)).status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('counts tunnels, streams and requests by route and status as traffic flows, and leaks nothing', async () => {
    const url = stack.relay.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const before = await (await fetch(url)).text();
    expect(value(before, /gatehouse_relay_tunnels_open/)).toBe(1);
    const signer = await stack.newSigner();
    const session = await stack.connect(signer);
    await fetch(`${session.endpoint}/healthz`);
    await fetch(`${stack.relay.publicUrl}/e/env_${'a'.repeat(26)}/healthz`); // offline: 503
    const after = await (await fetch(url)).text();
    expect(value(after, /gatehouse_relay_requests_total\{route="token",status="200"\}/)).toBeGreaterThanOrEqual(1);
    expect(value(after, /gatehouse_relay_requests_total\{route="connect",status="200"\}/)).toBeGreaterThanOrEqual(1);
    expect(value(after, /gatehouse_relay_requests_total\{route="routed",status="503"\}/)).toBe(1);
    expect(value(after, /gatehouse_relay_tunnel_streams_total/)).toBeGreaterThan(value(before, /gatehouse_relay_tunnel_streams_total/));
    expect(value(after, /gatehouse_relay_request_duration_seconds_count\{route="connect"\}/)).toBeGreaterThanOrEqual(1);
    for (const secret of [session.accessToken, signer.thumbprint, stack.env.environmentId, '127.0.0.1']) expect(after).not.toContain(secret);
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('counts replay-store errors: each failed marker write refuses its request and moves the counter', async () => {
    const url = stack.relay.metricsUrl!;
    const errors = async () => value(await (await fetch(url)).text(), /gatehouse_relay_replay_store_errors_total/);
    const before = await errors();
    // The store under the counting wrapper fails, as a database that cannot write would.
    const store = Object.getPrototypeOf(stack.relay.deps.store) as typeof stack.relay.deps.store;
    const consume = store.consumeMarker;
    store.consumeMarker = async () => {
      throw new Error('disk full');
    };
    try {
      await expect(stack.connect(await stack.newSigner())).rejects.toThrow();
    } finally {
      store.consumeMarker = consume;
    }
    expect(await errors()).toBe(before + 1);
    await stack.connect(await stack.newSigner()); // and back to normal
    expect(await errors()).toBe(before + 1);
  });

  it('routes map to a small fixed set', () => {
    expect(routeOf('POST', '/trpc/environments.connect', false)).toBe('connect');
    expect(routeOf('GET', `/e/env_${'b'.repeat(26)}/trpc/client.whoami`, false)).toBe('routed');
    expect(routeOf('GET', '/device', true)).toBe('device_page');
    expect(routeOf('DELETE', '/v1/links/env_x', false)).toBe('unlink');
    expect(routeOf('GET', '/some/random/path', false)).toBe('other');
  });
});

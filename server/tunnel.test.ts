// The tunnel end to end (SPEC §11): an environment with no direct endpoint, reached through the
// relay alone. Real relay, real environment, real WebSocket + HTTP/2 over 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fetchWhoAmI } from '../shared/client/connect';
import { ConnectFailedError, ConnectionBlockedError } from '../shared/client/errors';
import { sessionStream } from './testing/session-stream';
import { startStack, waitForTunnel, type Stack } from './testing/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await waitForTunnel(stack);
});
afterAll(async () => {
  await stack.close();
});

describe('an environment reached only through its tunnel', () => {
  it('the relay holds no direct endpoint for it, and connect answers the routed endpoint', async () => {
    const link = await stack.relay.deps.store.getLink(stack.env.environmentId);
    expect(link?.endpoint).toBeNull();
    expect(stack.env.tunnel?.status().state).toBe('connected');
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    const signer = await stack.newSigner();
    const session = await stack.connect(signer);
    expect(session.endpoint).toBe(`${stack.relay.publicUrl}/e/${stack.env.environmentId}`);
    const whoami = await fetchWhoAmI(session, signer);
    expect(whoami).toMatchObject({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: signer.thumbprint });
  });

  it('client-approval with wait: approve → connected; revoke → the next call and the session stream end at once', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const signer = await stack.newSigner();
    const connecting = stack.connect(signer, { waitSeconds: 25 });
    // The owner approves once the pending row exists.
    for (;;) {
      const rows = (await stack.owner.connect.clients.list.query()).items;
      if (rows.some((r) => r.clientProofKeyThumbprint === signer.thumbprint)) break;
      await new Promise((r) => setImmediate(r));
    }
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await connecting;
    expect(session.endpoint).toBe(`${stack.relay.publicUrl}/e/${stack.env.environmentId}`);
    expect(await fetchWhoAmI(session, signer)).toMatchObject({ clientProofKeyThumbprint: signer.thumbprint });

    const stream = sessionStream(session, signer);
    await stream.active;
    await stack.owner.connect.clients.revoke.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    await stream.done;
    stream.stop();
    expect(stream.events).toEqual(['active', 'ended:revoked']);
    await expect(fetchWhoAmI(session, signer)).rejects.toThrow();
  });

  it('a rejected client hears so through the tunnel', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const signer = await stack.newSigner();
    await stack.connect(signer, { wait: false }).catch(() => undefined);
    await stack.owner.connect.clients.reject.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const error = await stack.connect(signer, { wait: false }).catch((e) => e);
    expect(error).toBeInstanceOf(ConnectionBlockedError);
    expect(error.approvalStatus).toBe('rejected');
  });
});

describe('what the relay forwards', () => {
  const routed = () => `${stack.relay.publicUrl}/e/${stack.env.environmentId}`;

  it('GET /healthz crosses; owner paths, cookies and Bearer tokens do not', async () => {
    const health = await fetch(`${routed()}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ environmentId: stack.env.environmentId });
    for (const path of ['/login', '/settings/connections', '/api/connect/mint-credential', '/', '/device']) {
      const res = await fetch(`${routed()}${path}`, { method: path === '/api/connect/mint-credential' ? 'POST' : 'GET' });
      expect(res.status, path).toBe(404);
    }
    // The admin token is a Bearer token: it must not reach the environment's owner API.
    const owner = await fetch(`${routed()}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } });
    expect(owner.status).toBe(404);
    // A valid owner cookie does not cross either.
    const login = await fetch(`${stack.env.publicUrl}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.env.publicUrl },
      body: JSON.stringify({ code: new URL(stack.env.loginUrl()).hash.slice('#code='.length) }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const direct = await fetch(`${stack.env.publicUrl}/trpc/connect.clients.list`, { headers: { cookie } });
    expect(direct.status).toBe(200);
    const viaRelay = await fetch(`${routed()}/trpc/connect.clients.list`, { headers: { cookie, authorization: 'DPoP xxxxxxxxxxxxxxxxxxxxxxxx' } });
    expect(viaRelay.status).toBe(401);
  });
});

describe('a client that goes away (S54)', () => {
  it('aborting a held connect at the relay cancels the tunnel stream and frees the environment’s wait at once', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    const signer = await stack.newSigner();
    await stack.connect(signer, { wait: false }).catch(() => undefined); // now pending
    const abort = new AbortController();
    const held = stack.connect(signer, { waitSeconds: 25, signal: abort.signal }).catch((e) => e);
    await vi.waitFor(() => expect(stack.env.mint.waiting()).toBe(1), { timeout: 10_000 });
    abort.abort();
    await held;
    await vi.waitFor(() => expect(stack.env.mint.waiting()).toBe(0), { timeout: 2_000, interval: 10 });
  });
});

describe('offline', () => {
  it('an environment without a tunnel is offline at once, with the SPEC message', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    await stack.env.tunnel!.stop();
    await new Promise<void>((resolve) => {
      const check = () => (stack.relay.deps.tunnels.has(stack.env.environmentId) ? setImmediate(check) : resolve());
      check();
    });
    const signer = await stack.newSigner();
    const started = performance.now();
    const error = await stack.connect(signer, { wait: false }).catch((e) => e);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(ConnectFailedError);
    expect(error.reason).toBe('environment_offline');
    expect(error.message).toContain('The environment is offline. It will be reachable again when it reconnects to the relay.');
    const health = await fetch(`${stack.relay.publicUrl}/e/${stack.env.environmentId}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ reason: 'environment_offline' });
  });
});

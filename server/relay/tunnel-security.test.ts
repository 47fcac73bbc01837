// S53: only an environment holding its key opens its tunnel; proofs are single-use and short-lived;
// a second tunnel replaces the first only after proving; the relay forwards only the client API
// and writes gatehouse-client-address itself. Real relay, real WebSockets on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { systemClock } from '../common/clock';
import { environmentIdOfKey } from '../common/environment-id';
import { loadOrCreateSigningKey, type SigningKey } from '../common/keys';
import { createTestDeps } from '../env/testing';
import { linkToRelay } from '../env/link/link-client';
import { clientAddressOf, isTunnelRequest } from '../env/tunnel/tunnel-requests';
import { startTunnelAgent, type TunnelAgent } from '../env/tunnel/tunnel-agent';
import { signTunnelProof } from '../mint/link-proof';
import { TUNNEL_SUBPROTOCOL } from '../tunnel/tunnel-protocol';
import { startRelay, type RelayRuntime } from './relay-app';

let dir: string;
let relay: RelayRuntime;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-tunnel-sec-'));
  relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true });
});
afterAll(async () => {
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Bytes an honest producer (it waits for 'drain') managed to write to a reader that never reads. */
let produced = 0;
function produce(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 1);
  const pump = () => {
    while (produced < 512 * 1024 * 1024 && !res.destroyed) {
      produced += chunk.byteLength;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  res.once('close', () => undefined);
  pump();
}

interface FakeEnv {
  environmentId: string;
  key: SigningKey;
  seen: Array<{ url: string; headers: IncomingMessage['headers']; tunnel: boolean; address: string }>;
  agent: TunnelAgent;
}

/** An environment of the test's own: linked for real, with a handler that records what it is sent. */
async function fakeEnvironment(name: string, linkIt = true): Promise<FakeEnv> {
  const key = await loadOrCreateSigningKey(join(dir, `${name}-key.json`));
  const environmentId = await environmentIdOfKey(key.publicJwk);
  const deps = { ...createTestDeps().deps, clock: systemClock };
  if (linkIt) await linkToRelay({ deps, environmentId, signingKey: key }, relay.publicUrl, await relay.devIssuer!.issueIdToken('owner'));
  const seen: FakeEnv['seen'] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/trpc/big') return produce(res);
    seen.push({ url: req.url ?? '', headers: { ...req.headers }, tunnel: isTunnelRequest(req), address: clientAddressOf(req) });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, environmentId }));
  };
  const agent = startTunnelAgent({ deps, environmentId, signingKey: key, handler, log: () => undefined });
  if (linkIt) await vi.waitFor(() => expect(relay.deps.tunnels.has(environmentId)).toBe(true));
  return { environmentId, key, seen, agent };
}

/** Opens a raw tunnel WebSocket with this Authorization; resolves with the HTTP status the relay answered. */
function handshake(authorization: string | null, protocols: string[] = [TUNNEL_SUBPROTOCOL]): Promise<{ status: number; ws?: WebSocket; challenge?: string | undefined }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${relay.publicUrl.replace('http', 'ws')}/v1/tunnel`, protocols, { headers: authorization ? { authorization } : {} });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] });
    });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('error', () => undefined);
  });
}

const proofFor = (env: Pick<FakeEnv, 'environmentId' | 'key'>, now = Date.now()) => signTunnelProof(env.key.privateKey, { environmentId: env.environmentId, relayIssuer: relay.publicUrl, now });

describe('S53 tunnel authentication', () => {
  let env: FakeEnv;
  beforeAll(async () => {
    env = await fakeEnvironment('alpha');
    await env.agent.stop(); // the raw handshakes below are the only tunnels
    await vi.waitFor(() => expect(relay.deps.tunnels.has(env.environmentId)).toBe(false));
  });

  it('a valid proof opens the tunnel; the same proof again is refused (single use)', async () => {
    const proof = await proofFor(env);
    const first = await handshake(`Gatehouse-Tunnel ${proof}`);
    expect(first.status).toBe(101);
    first.ws!.terminate();
    expect((await handshake(`Gatehouse-Tunnel ${proof}`)).status).toBe(401);
  });

  it('refuses an expired proof, one for another id, one signed by another key, and none at all', async () => {
    expect((await handshake(`Gatehouse-Tunnel ${await proofFor(env, Date.now() - 3 * 60_000)}`)).status).toBe(401);
    const other = await fakeEnvironment('beta', false); // never linked: its id is unknown to the relay
    await other.agent.stop();
    expect((await handshake(`Gatehouse-Tunnel ${await proofFor(other)}`)).status).toBe(401);
    // The linked id, but signed with another key.
    expect((await handshake(`Gatehouse-Tunnel ${await proofFor({ environmentId: env.environmentId, key: other.key })}`)).status).toBe(401);
    expect(await handshake(null)).toMatchObject({ status: 401, challenge: 'Gatehouse-Tunnel error="invalid_token"' });
    expect((await handshake('Bearer something')).status).toBe(401);
    expect((await handshake(`Gatehouse-Tunnel ${'x'.repeat(10_000)}`)).status).toBe(401);
  });

  it('refuses a proof that lives longer than 60 s, and one with another typ', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const base = () =>
      new SignJWT({ environmentId: env.environmentId })
        .setIssuer(`env:${env.environmentId}`)
        .setAudience(relay.publicUrl)
        .setJti(randomBytes(16).toString('base64url'))
        .setIssuedAt(iat);
    const longLived = await base().setProtectedHeader({ alg: 'EdDSA', typ: 'gatehouse-tunnel+jwt' }).setExpirationTime(iat + 300).sign(env.key.privateKey);
    expect((await handshake(`Gatehouse-Tunnel ${longLived}`)).status).toBe(401);
    const linkTyp = await base().setProtectedHeader({ alg: 'EdDSA', typ: 'gatehouse-link+jwt' }).setExpirationTime(iat + 30).sign(env.key.privateKey);
    expect((await handshake(`Gatehouse-Tunnel ${linkTyp}`)).status).toBe(401);
  });

  it('a proven tunnel that sends garbage instead of HTTP/2 is dropped; the relay carries on', async () => {
    const opened = await handshake(`Gatehouse-Tunnel ${await proofFor(env)}`);
    expect(opened.status).toBe(101);
    const closed = new Promise<void>((r) => opened.ws!.once('close', () => r()));
    opened.ws!.send(Buffer.from('GET / HTTP/1.1\r\n\r\n' + '\x00\xff'.repeat(64)));
    await closed;
    await vi.waitFor(() => expect(relay.deps.tunnels.has(env.environmentId)).toBe(false));
    expect((await fetch(`${relay.publicUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${relay.publicUrl}/e/${env.environmentId}/healthz`)).status).toBe(503);
  });

  it('refuses a WebSocket without the tunnel subprotocol', async () => {
    expect((await handshake(`Gatehouse-Tunnel ${await proofFor(env)}`, ['chat'])).status).toBe(400);
  });
});

describe('S53 one tunnel per environment', () => {
  it('a second tunnel without a valid proof leaves the first in place; a proven one replaces it (GOAWAY)', async () => {
    const env = await fakeEnvironment('gamma');
    const before = relay.deps.tunnels.info(env.environmentId)!;
    expect((await handshake(`Gatehouse-Tunnel ${await proofFor({ environmentId: env.environmentId, key: (await fakeEnvironment('delta', false)).key })}`)).status).toBe(401);
    expect(relay.deps.tunnels.info(env.environmentId)?.openedAt).toBe(before.openedAt);

    const states: string[] = [];
    env.agent.onStatus((s) => states.push(s.state === 'offline' ? `offline: ${s.lastError}` : s.state));
    const replaced = vi.fn();
    const replacement = await handshake(`Gatehouse-Tunnel ${await proofFor(env)}`);
    expect(replacement.status).toBe(101);
    replacement.ws!.on('close', replaced);
    // The old tunnel is told to move; the agent notices and reconnects, replacing the raw one in turn.
    await vi.waitFor(() => expect(states).toContain('connected'), { timeout: 10_000 });
    // On GOAWAY the agent dials again at once (SPEC §12: environments move), without going offline.
    expect(states.slice(0, states.indexOf('connected'))).toEqual(['connecting']);
    await vi.waitFor(() => expect(replaced).toHaveBeenCalled(), { timeout: 35_000 });
    expect(relay.deps.tunnels.info(env.environmentId)!.openedAt).toBeGreaterThan(before.openedAt);
    await env.agent.stop();
  });
});

describe('S53 what crosses the tunnel', () => {
  let env: FakeEnv;
  beforeAll(async () => {
    env = await fakeEnvironment('epsilon');
  });
  afterAll(async () => env.agent.stop());

  it('the caller cannot set gatehouse-client-address; the relay writes what it saw, and the env believes it only on tunnel streams', async () => {
    env.seen.length = 0;
    const res = await fetch(`${relay.publicUrl}/e/${env.environmentId}/healthz`, {
      headers: { 'gatehouse-client-address': '203.0.113.9', 'gatehouse-anything': 'x', 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9', cookie: 'gatehouse_owner=stolen' },
    });
    expect(res.status).toBe(200);
    const [seen] = env.seen;
    expect(seen).toMatchObject({ url: '/healthz', tunnel: true, address: '127.0.0.1' });
    expect(seen!.headers['gatehouse-client-address']).toBe('127.0.0.1');
    for (const name of ['gatehouse-anything', 'x-forwarded-for', 'forwarded', 'cookie', 'host']) expect(seen!.headers[name], name).toBeUndefined();
  });

  it('forwards DPoP authorization and the DPoP header, never Bearer; never owner or mint paths', async () => {
    env.seen.length = 0;
    const dpop = await fetch(`${relay.publicUrl}/e/${env.environmentId}/trpc/client.whoami`, { headers: { authorization: 'DPoP abc', dpop: 'x.y.z' } });
    expect(dpop.status).toBe(200);
    expect(env.seen[0]!.headers).toMatchObject({ authorization: 'DPoP abc', dpop: 'x.y.z' });
    const refused = [
      fetch(`${relay.publicUrl}/e/${env.environmentId}/trpc/connect.clients.list`, { headers: { authorization: 'Bearer admin' } }),
      fetch(`${relay.publicUrl}/e/${env.environmentId}/trpc/connect.clients.list`),
      fetch(`${relay.publicUrl}/e/${env.environmentId}/api/connect/mint-credential`, { method: 'POST', body: '{}' }),
      fetch(`${relay.publicUrl}/e/${env.environmentId}/login`, { method: 'POST', body: '{}' }),
      fetch(`${relay.publicUrl}/e/${env.environmentId}/settings/connections`),
      fetch(`${relay.publicUrl}/e/${env.environmentId}/oauth/token`, { method: 'PUT', body: '{}' }),
      fetch(`${relay.publicUrl}/e/${env.environmentId}/healthz`, { method: 'POST', body: '{}' }),
    ];
    for (const res of await Promise.all(refused)) expect(res.status).toBe(404);
    expect(env.seen).toHaveLength(1);
    // GET of the token endpoint goes through for the environment's own 405; the DPoP scheme in any case.
    await fetch(`${relay.publicUrl}/e/${env.environmentId}/oauth/token`);
    await fetch(`${relay.publicUrl}/e/${env.environmentId}/trpc/client.whoami`, { headers: { authorization: 'dpop abc', dpop: 'x.y.z' } });
    expect(env.seen).toHaveLength(3);
    expect(env.seen[2]!.headers).toMatchObject({ authorization: 'dpop abc' });
  });

  it('backpressure: a client that stops reading holds the environment back, nothing buffers without bound', async () => {
    produced = 0;
    const { request } = await import('node:http');
    const url = new URL(`${relay.publicUrl}/e/${env.environmentId}/trpc/big`);
    const req = request(url, { headers: { authorization: 'DPoP stalled' } });
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) => req.on('response', resolve).end());
    expect(res.statusCode).toBe(200);
    res.pause(); // never read
    // Wait until the producer is stuck: its count stops moving for a while.
    let last = -1;
    await vi.waitFor(
      () => {
        const now = produced;
        const stuck = now === last && now > 0;
        last = now;
        expect(stuck).toBe(true);
      },
      { timeout: 20_000, interval: 300 },
    );
    // Windows and socket buffers only: a few MB, not the 512 MB it would write to an unbounded buffer.
    expect(produced).toBeLessThan(32 * 1024 * 1024);
    req.destroy();
  });

  it('an oversized body is refused at the relay without reaching the environment', async () => {
    env.seen.length = 0;
    const res = await fetch(`${relay.publicUrl}/e/${env.environmentId}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a'.repeat(200_000) });
    expect(res.status).toBe(413);
    expect(env.seen).toHaveLength(0);
  });

  it('an environment id that is not linked, or malformed, is offline or not found — never a crash', async () => {
    const unknown = await fetch(`${relay.publicUrl}/e/env_${'a'.repeat(26)}/healthz`);
    expect(unknown.status).toBe(503);
    expect(await unknown.json()).toMatchObject({ reason: 'environment_offline' });
    for (const path of ['/e/env_short/healthz', '/e/%00/healthz', `/e/ENV_${'A'.repeat(26)}/healthz`]) {
      expect((await fetch(`${relay.publicUrl}${path}`)).status, path).toBe(404);
    }
  });
});

// SPEC §15 at the relay: what clients need to sign in, and the browser callback that hands code and
// state on to the device page that asked (and to no other page).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RelayRuntime } from './relay-app';
import { signInReturnOrigin } from './http';

const PAGE = 'http://127.0.0.1:4100';
let dir: string;
let relay: RelayRuntime;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-sign-in-'));
  relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true, allowedOrigins: [PAGE] });
});
afterAll(async () => {
  await relay.close();
  await rm(dir, { recursive: true, force: true });
});

const stateFor = (origin: string) => `${randomBytes(16).toString('base64url')}.${Buffer.from(origin).toString('base64url')}`;

describe('GET /.well-known/gatehouse-configuration', () => {
  it('names the embedded issuer and its public client', async () => {
    const res = await fetch(`${relay.publicUrl}/.well-known/gatehouse-configuration`, { headers: { origin: PAGE } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(await res.json()).toEqual({ accountIssuer: `${relay.publicUrl}/dev-issuer`, clientId: 'gatehouse', relayIssuer: relay.publicUrl });
  });

  it('names an external provider and the client id given for it (default: the audience)', async () => {
    const external = { issuer: relay.devIssuer!.issuer, audience: 'gatehouse' };
    const withClient = await startRelay({ dataDir: join(dir, 'ext'), port: 0, accountIssuer: external, accountClientId: 'gatehouse-cli' });
    const withoutClient = await startRelay({ dataDir: join(dir, 'ext2'), port: 0, accountIssuer: external });
    try {
      expect(await (await fetch(`${withClient.publicUrl}/.well-known/gatehouse-configuration`)).json()).toEqual({ accountIssuer: external.issuer, clientId: 'gatehouse-cli', relayIssuer: withClient.publicUrl });
      expect(await (await fetch(`${withoutClient.publicUrl}/.well-known/gatehouse-configuration`)).json()).toMatchObject({ clientId: 'gatehouse' });
      // Without --dev-issuer there is no issuer on the relay at all.
      expect((await fetch(`${withClient.publicUrl}/dev-issuer/.well-known/openid-configuration`)).status).toBe(404);
    } finally {
      await withClient.close();
      await withoutClient.close();
    }
  });
});

describe('GET /sign-in/callback', () => {
  it('hands code, state and iss to the listed device page in the fragment, nothing else', async () => {
    const state = stateFor(PAGE);
    const res = await fetch(`${relay.publicUrl}/sign-in/callback?${new URLSearchParams({ code: 'c0de', state, iss: 'https://issuer.example', extra: 'dropped' })}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(`${PAGE}/device`);
    expect(location.search).toBe('');
    expect(Object.fromEntries(new URLSearchParams(location.hash.slice(1)))).toEqual({ code: 'c0de', state, iss: 'https://issuer.example' });
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('refuses a state that names another origin, more than an origin, or nothing readable', async () => {
    for (const state of [stateFor('https://evil.example'), stateFor(`${PAGE}/x`), stateFor(`${PAGE}@evil.example`), 'short.aHR0cDovLzEyNy4wLjAuMTo0MTAw', 'no-dot', '', `${randomBytes(16).toString('base64url')}.%%%`]) {
      const res = await fetch(`${relay.publicUrl}/sign-in/callback?${new URLSearchParams({ code: 'c0de', state })}`, { redirect: 'manual' });
      expect(res.status, state).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('shows a browser a plain page (no script, no hand-on) when it refuses', async () => {
    const res = await fetch(`${relay.publicUrl}/sign-in/callback?${new URLSearchParams({ code: 'c0de', state: stateFor('https://evil.example') })}`, { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('does not name a device page this relay serves');
    expect(html).not.toContain('evil.example');
  });

  it('accepts what the rule allows, when the state names exactly that origin', () => {
    const suffix = (origin: string) => new URL(origin).host.endsWith('.localhost:4200');
    expect(signInReturnOrigin(stateFor('http://abc.localhost:4200'), suffix)).toBe('http://abc.localhost:4200');
    expect(signInReturnOrigin(stateFor('http://abc.localhost:4200/'), suffix)).toBeNull(); // not exactly an origin
    expect(signInReturnOrigin(stateFor('http://abc.localhost:4201'), suffix)).toBeNull();
  });
});

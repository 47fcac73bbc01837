// Environment page origins (`{label}.localhost:{port}`, SPEC §11) may call the relay's client API and
// its dev issuer's sign-in endpoints from a browser, the way the /device page does; look-alike origins
// may not. The dev issuer's scripted token shortcut is for tests and scripts, never a page (SPEC §15).
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from '../testing/stack';
import { startRelay, type RelayRuntime } from './relay-app';

const LABEL = 'abcdefghijklmnopqrstuvwxyz';
const dirs: string[] = [];
let relay: RelayRuntime;
let plainRelay: RelayRuntime;

async function relayIn(config: { environmentHostSuffix?: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-page-origins-'));
  dirs.push(dir);
  return startRelay({ dataDir: dir, port: 0, devIssuer: true, ...config });
}

beforeAll(async () => {
  relay = await relayIn({ environmentHostSuffix: 'localhost' });
  plainRelay = await relayIn({});
});
afterAll(async () => {
  await relay.close();
  await plainRelay.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const preflight = (base: string, path: string, origin: string) =>
  fetch(`${base}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
const devToken = (base: string, origin: string) =>
  fetch(`${base}/dev-issuer/token`, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'owner' }) });
/** The provider's own token endpoint, where the /device page exchanges its code and refreshes. */
const providerToken = (on: RelayRuntime, origin: string) =>
  fetch(`${on.publicUrl}/dev-issuer/oauth/token`, { method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=refresh_token&refresh_token=nope&client_id=${on.devIssuer!.clientId}` });

describe('environment page origins', () => {
  it('a page origin at this relay gets CORS on /oauth/token and on the dev issuer’s sign-in endpoints, none on its token shortcut', async () => {
    const origin = `http://${LABEL}.localhost:${new URL(relay.publicUrl).port}`;
    expect((await preflight(relay.publicUrl, '/oauth/token', origin)).headers.get('access-control-allow-origin')).toBe(origin);
    const signIn = await providerToken(relay, origin);
    expect(signIn.headers.get('access-control-allow-origin')).toBe(origin);
    expect(await signIn.json()).toMatchObject({ error: 'invalid_grant' });
    // The shortcut is for tests and scripts: the device page signs in at the provider, never through it.
    const issuerPreflight = await preflight(relay.publicUrl, '/dev-issuer/token', origin);
    expect(issuerPreflight.status).toBe(403);
    expect(issuerPreflight.headers.get('access-control-allow-origin')).toBeNull();
    const token = await devToken(relay.publicUrl, origin);
    expect(token.status).toBe(403);
    expect(token.headers.get('access-control-allow-origin')).toBeNull();
    expect(await token.text()).not.toMatch(/eyJ/);
    // The relay's own origin (a same-origin page) and a script (no Origin) still get one.
    for (const headers of [{ origin: new URL(relay.publicUrl).origin }, {}] as Record<string, string>[]) {
      const own = await fetch(`${relay.publicUrl}/dev-issuer/token`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'owner' }) });
      expect(own.status).toBe(200);
      expect(((await own.json()) as { id_token?: string }).id_token).toMatch(/^eyJ/);
    }
  });

  it('look-alikes get neither: another port, another parent, a label that is not an id', async () => {
    const port = new URL(relay.publicUrl).port;
    for (const origin of [
      `http://${LABEL}.localhost:${Number(port) + 1}`,
      `http://${LABEL}.localhost.evil.example:${port}`,
      `http://evil.localhost:${port}`,
      `http://${LABEL.slice(1)}.localhost:${port}`,
    ]) {
      expect((await preflight(relay.publicUrl, '/oauth/token', origin)).headers.get('access-control-allow-origin'), origin).toBeNull();
      expect((await providerToken(relay, origin)).headers.get('access-control-allow-origin'), origin).toBeNull();
      const token = await devToken(relay.publicUrl, origin);
      expect(token.status, origin).toBe(403);
      expect(token.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });

  it('a relay without a host suffix allows no page origin', async () => {
    const origin = `http://${LABEL}.localhost:${new URL(plainRelay.publicUrl).port}`;
    expect((await preflight(plainRelay.publicUrl, '/oauth/token', origin)).headers.get('access-control-allow-origin')).toBeNull();
    expect((await devToken(plainRelay.publicUrl, origin)).status).toBe(403);
  });
});

/** GET on the relay with the Host a browser on that page origin sends. */
function getAtHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the device page config through the tunnel', () => {
  it('says no owner pages are served on the page origin, and that they are on the environment’s own', async () => {
    const stack = await startStack({ relay: { environmentHostSuffix: 'localhost' } });
    try {
      const pageHost = new URL(stack.relay.deviceOriginOf(stack.env.environmentId)!).host;
      const through = await getAtHost(`${stack.relay.publicUrl}/api/connect/config`, pageHost);
      expect(through.status).toBe(200);
      expect(JSON.parse(through.body)).toEqual({ environmentId: stack.env.environmentId, relayUrl: stack.relay.publicUrl, ownerPages: false });
      const direct = (await (await fetch(`${stack.env.publicUrl}/api/connect/config`)).json()) as { ownerPages?: boolean };
      expect(direct.ownerPages).toBe(true);
    } finally {
      await stack.close();
    }
  });
});

// The environment's request log (issue 15: "the env gets the same logger"): one pino JSON line per
// request, on its own port and on tunnel streams, with a request id — on a tunnel stream the relay's,
// so one id finds both lines. After an owner login and a full connect, the captured log holds no
// login code, cookie, admin token, ID token, relay token, credential, session token or DPoP proof.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fetchWhoAmI } from '../../shared/client/connect';
import { startStack, type Stack } from '../testing/stack';
import { envRouteOf } from './env-app';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const envLog = sink();
const relayLog = sink();
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { requestLog: envLog.stream }, relay: { requestLog: relayLog.stream } });
});
afterAll(async () => stack.close());

describe('environment request log', () => {
  it('one line per request with a request id shared with the relay; no secret after an owner login and a full connect', async () => {
    const { env } = stack;
    // What every request carried: headers and bodies, to look for afterwards.
    const carried: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      for (const name of ['dpop', 'authorization']) if (headers.get(name)) carried.push(headers.get(name)!.replace(/^DPoP /, ''));
      if (typeof init?.body === 'string') for (const [, value] of new URLSearchParams(init.body)) if (value.length > 20) carried.push(value);
      return fetch(input, init);
    };

    // The owner signs in with a one-time link and reads the mode with the cookie; the CLI's admin token too.
    const loginCode = new URL(env.loginUrl()).hash.slice('#code='.length);
    const login = await fetch(`${env.publicUrl}/login?code=${loginCode}`, { method: 'POST', headers: { 'content-type': 'application/json', origin: env.publicUrl }, body: JSON.stringify({ code: loginCode }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    expect((await fetch(`${env.publicUrl}/trpc/connect.securityMode.get`, { headers: { cookie } })).status).toBe(200);
    await stack.owner.connect.securityMode.get.query();

    // A device connects through the relay (mint and redeem through the tunnel) and calls the environment.
    const signer = await stack.newSigner();
    const idToken = await stack.idToken();
    const session = await stack.connect(signer, { getIdToken: async () => idToken, fetch: recording });
    const whoami = await fetchWhoAmI(session, signer, recording);
    expect(whoami.environmentId).toBe(env.environmentId);

    const wanted = ['login', 'owner_trpc', 'mint', 'token', 'client_trpc'];
    await vi.waitFor(() => expect(envLog.entries().map((e) => e.route)).toEqual(expect.arrayContaining(wanted)));
    await vi.waitFor(() => expect(relayLog.lines.some((l) => l.includes('client.whoami'))).toBe(true));
    const entries = envLog.entries();
    for (const e of entries) {
      expect(e).toEqual({ level: 30, time: expect.any(String), service: 'env', reqId: expect.stringMatching(/^[0-9a-f-]{36}$/), method: expect.any(String), route: expect.any(String), via: expect.stringMatching(/^(local|tunnel)$/), path: expect.any(String), status: expect.any(Number), ms: expect.any(Number) });
    }
    expect(entries.find((e) => e.route === 'login')).toMatchObject({ via: 'local', method: 'POST', path: '/login', status: 200 });
    expect(entries.find((e) => e.route === 'mint')).toMatchObject({ via: 'tunnel', method: 'POST', path: '/api/connect/mint-credential', status: 200 });
    expect(login.headers.get('x-request-id')).toBe(entries.find((e) => e.route === 'login')!.reqId);

    // The routed call is one request with one id, in the relay's log and in the environment's.
    const envWhoami = entries.find((e) => e.route === 'client_trpc' && String(e.path).includes('client.whoami'))!;
    const relayWhoami = relayLog.entries().find((e) => e.route === 'routed' && String(e.path).includes('client.whoami'))!;
    expect(envWhoami).toMatchObject({ via: 'tunnel', status: 200, path: '/trpc/client.whoami' });
    expect(envWhoami.reqId).toBe(relayWhoami.reqId);
    expect(new Set(entries.map((e) => e.reqId)).size).toBe(entries.length);

    const secrets = [loginCode, cookie.split('=')[1]!, env.adminToken, idToken, session.accessToken, ...carried];
    expect(carried.length).toBeGreaterThanOrEqual(6); // proofs, the relay token, the credential
    const all = [...envLog.lines, ...relayLog.lines].join('\n');
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all).not.toContain('?code=');
  });

  it('routes are a small fixed set', () => {
    expect(envRouteOf('POST', '/api/connect/mint-credential')).toBe('mint');
    expect(envRouteOf('GET', '/trpc/access.events')).toBe('events');
    expect(envRouteOf('POST', '/trpc/connect.clients.approve')).toBe('owner_trpc');
    expect(envRouteOf('GET', '/settings/connections')).toBe('web');
    expect(envRouteOf('DELETE', '/anything/else')).toBe('other');
  });
});

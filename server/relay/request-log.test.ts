// SPEC §12: one JSON line per request with a request id (sent back as x-request-id), and never a
// token, a proof or a credential — whatever the request carried.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStack, type Stack } from '../testing/stack';

const lines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    done();
  },
});

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ relay: { requestLog: sink } });
});
afterAll(async () => stack.close());

describe('relay request log', () => {
  it('one line per request, with its id, route and status; no secret of any kind', async () => {
    lines.length = 0;
    const signer = await stack.newSigner();
    const idToken = await stack.idToken();
    const session = await stack.connect(signer, { getIdToken: async () => idToken });
    const health = await fetch(`${session.endpoint}/healthz?access_token=${session.accessToken}`, { headers: { authorization: `DPoP ${session.accessToken}`, cookie: 'gatehouse_owner=secret-cookie' } });
    await vi.waitFor(() => expect(lines.some((l) => l.includes('/healthz'))).toBe(true));
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => e.route)).toEqual(expect.arrayContaining(['token', 'connect', 'routed']));
    const routed = entries.find((e) => e.route === 'routed' && String(e.path).endsWith('/healthz'))!;
    expect(routed).toMatchObject({ service: 'relay', method: 'GET', status: 200, path: `/e/${stack.env.environmentId}/healthz` });
    expect(routed.reqId).toBe(health.headers.get('x-request-id'));
    expect(new Set(entries.map((e) => e.reqId)).size).toBe(entries.length);
    const all = lines.join('\n');
    for (const secret of [session.accessToken, idToken, 'secret-cookie', 'access_token', 'DPoP ']) expect(all).not.toContain(secret);
  });
});

// Body limits on a real node:http server: an over-limit body is refused with 413 and a clean error;
// a small one is discarded so the connection carries on, a large or unsized one ends it; callers
// that hang up are logged, throttled.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from '../testing/stack';
import { manualClock } from './clock';
import { MAX_DISCARDED_BODY_BYTES, readObjectBody, sendError, sendJson, unexpectedErrorLog } from './http';

let server: Server;
let port: number;
beforeAll(async () => {
  server = createServer(async (req, res) => {
    try {
      sendJson(res, 200, { got: Object.keys(await readObjectBody(req, 1024)) });
    } catch (error) {
      sendError(res, error);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Writes raw requests on one connection; resolves with everything read until it closes or `until` matches. */
function exchange(raw: string[], until: (text: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean) => {
      socket.destroy();
      resolve({ text, closed });
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (until(text)) done(false);
    });
    socket.on('close', () => done(true));
    socket.on('error', reject);
    for (const part of raw) socket.write(part);
  });
}

const post = (body: string, headers = `Content-Length: ${Buffer.byteLength(body)}\r\n`) =>
  `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('request bodies over the limit', () => {
  it('a declared body up to the discard limit: 413, then the same connection answers the next request', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(40 * 1024) });
    const { text, closed } = await exchange([post(big), post('{"a":1}')], (t) => statuses(t).length === 2);
    expect(statuses(text)).toEqual([413, 200]);
    expect(text).toContain('"reason":"invalid_request"');
    expect(text).toContain('{"got":["a"]}');
    expect(text).not.toMatch(/connection: close/i);
    expect(closed).toBe(false);
  });

  it('a declared body beyond the discard limit: 413 with Connection: close, and nothing more is read', async () => {
    const declared = MAX_DISCARDED_BODY_BYTES + 1;
    const { text, closed } = await exchange([post('{"pad":"', `Content-Length: ${declared}\r\n`)], () => false);
    expect(statuses(text)).toEqual([413]);
    expect(text).toMatch(/connection: close/i);
    expect(closed).toBe(true);
  });

  it('a chunked body that grows past the limit: 413 with Connection: close', async () => {
    const chunk = 'x'.repeat(2000);
    const chunked = `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    const { text, closed } = await exchange([chunked], () => false);
    expect(statuses(text)).toEqual([413]);
    expect(text).toMatch(/connection: close/i);
    expect(closed).toBe(true);
  });
});

describe('callers that hang up', () => {
  it('a storm of aborted requests at the env logs one line a minute and a count, not a line each', async () => {
    const stack = await startStack();
    const saved = { ...unexpectedErrorLog };
    const lines: string[] = [];
    const clock = manualClock();
    Object.assign(unexpectedErrorLog, { sink: (line: string) => lines.push(line), clock });
    const { hostname, port: envPort } = new URL(stack.env.publicUrl);
    const connections = () => new Promise<number>((r, j) => stack.env.server.getConnections((e, n) => (e ? j(e) : r(n))));
    const hangUp = (n: number) =>
      Promise.all(
        Array.from({ length: n }, () => new Promise<void>((resolve) => {
          const s = connect(Number(envPort), hostname, () => {
            s.write('POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant');
            setImmediate(() => s.destroy());
          });
          s.on('close', () => resolve());
          s.on('error', () => undefined);
        })),
      );
    try {
      await hangUp(50);
      await expect.poll(connections).toBe(0);
      await expect.poll(() => lines.length).toBe(1);
      clock.advance(61_000);
      await hangUp(1);
      await expect.poll(() => lines.length).toBe(3);
      expect(lines[0]).toMatch(/a caller aborted its request/);
      expect(lines.filter((l) => /unexpected error/.test(l))).toEqual([]);
      const counted = Number(/(\d+) more caller\(s\) aborted/.exec(lines[1]!)?.[1]);
      expect(counted).toBeGreaterThanOrEqual(40); // some of the 50 may hang up before their body is read
      expect(counted).toBeLessThanOrEqual(49);
    } finally {
      Object.assign(unexpectedErrorLog, saved);
      await stack.close();
    }
  });
});

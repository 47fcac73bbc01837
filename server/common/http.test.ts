// Body limits on a real node:http server: an over-limit body is refused with 413 and a clean error;
// a small one is discarded so the connection carries on, a large or unsized one ends it.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DISCARDED_BODY_BYTES, readObjectBody, sendError, sendJson } from './http';

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

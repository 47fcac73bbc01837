// S55: every server bounds how long a request may take to arrive and how many sockets it holds,
// while long-polls and event streams, whose requests have arrived, keep running.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerCall, postMint, signedMintRequest } from '../testing/http-probe';
import { startStack, type Stack } from '../testing/stack';
import { SERVER_LIMITS } from './server-limits';

const DEFAULTS = { ...SERVER_LIMITS };
// The real servers read SERVER_LIMITS when they are created: shortened here so the test takes seconds.
const FAST = { headersTimeoutMs: 400, requestTimeoutMs: 800, maxConnections: 40, checkIntervalMs: 50 };

interface RawOutcome {
  closedAfterMs: number;
  received: string;
}

/** Opens a raw socket, writes `head` (and never the rest), and reports when the server closes it. */
function rawRequest(url: string, head: string, deadlineMs = 5_000): Promise<RawOutcome & { socket: Socket }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => void (received += chunk));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the socket after ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: performance.now() - started, received, socket });
    });
  });
}

const slowBody = (url: string, path: string, contentType: string) =>
  rawRequest(url, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: 4000\r\n\r\n12345`);

describe('S55 the servers are built with the limits', () => {
  it('S55 env and relay: headers 10 s, whole request 15 s, a connection cap', async () => {
    const stack = await startStack();
    try {
      for (const server of [stack.env.server, stack.relay.server]) {
        expect({ headers: server.headersTimeout, request: server.requestTimeout, max: server.maxConnections }).toEqual({ headers: 10_000, request: 15_000, max: DEFAULTS.maxConnections });
        expect(server.maxConnections).toBeGreaterThan(1000); // above the flood bench's in-flight requests
      }
    } finally {
      await stack.close();
    }
  });
});

describe('S55 slow callers are cut off, answers that take long are not', () => {
  let stack: Stack;
  beforeAll(async () => {
    Object.assign(SERVER_LIMITS, FAST);
    stack = await startStack();
    Object.assign(SERVER_LIMITS, DEFAULTS);
  });
  afterAll(() => stack.close());

  it('S55 a body that declared 4,000 bytes and sent 5 is closed within the request timeout at mint, token and login (env) and token (relay); a long-poll and an event stream outlive it', async () => {
    const env = stack.env.publicUrl;
    await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
    // A long-poll (mint with wait) and an owner event stream, opened before the slow callers.
    const waiting = await stack.newSigner();
    const longPoll = postMint(stack, await signedMintRequest(stack, waiting.thumbprint, { waitSeconds: 25 }));
    const events = await fetch(`${env}/trpc/access.events`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } });
    const reader = events.body!.getReader();
    const decoder = new TextDecoder();
    let streamed = '';
    const read = async (until: string) => {
      while (!streamed.includes(until)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        streamed += decoder.decode(value, { stream: true });
      }
    };
    await read('"snapshot"');

    const slow = await Promise.all([
      slowBody(env, '/api/connect/mint-credential', 'application/json'),
      slowBody(env, '/oauth/token', 'application/x-www-form-urlencoded'),
      slowBody(env, '/login', 'application/json'),
      slowBody(stack.relay.publicUrl, '/oauth/token', 'application/x-www-form-urlencoded'),
      rawRequest(env, 'POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n'), // headers that never end
    ]);
    for (const outcome of slow) {
      expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(FAST.headersTimeoutMs - 50);
      expect(outcome.closedAfterMs).toBeLessThan(FAST.requestTimeoutMs + 1_000);
    }
    expect(slow.filter((o) => o.received.startsWith('HTTP/1.1 408')).length).toBeGreaterThanOrEqual(4);

    // Every slow caller outlived the request timeout; the long-poll and the stream are still served.
    const approved = await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: waiting.thumbprint });
    expect(approved.status).toBe(200);
    expect((await longPoll).body?.status).toBe('authorized');
    await read(`"status":"approved"`);
    await reader.cancel();
  });

  it('S55 connections beyond the cap are closed at once; the server still answers once they go', async () => {
    const env = stack.env.publicUrl;
    const { hostname, port } = new URL(env);
    const held: Socket[] = [];
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect(Number(port), hostname, () => resolve(s));
        s.on('error', reject);
      });
    try {
      for (let i = 0; i < FAST.maxConnections; i++) held.push(await open());
      const beyond = await rawRequest(env, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 2_000);
      expect(beyond.received).toBe('');
      expect(beyond.closedAfterMs).toBeLessThan(FAST.headersTimeoutMs);
    } finally {
      for (const s of held) s.destroy();
    }
    await expect.poll(() => countConnections(stack), { timeout: 5_000 }).toBe(0);
    const health = await fetch(`${env}/healthz`);
    expect(health.status).toBe(200);
  });
});

const countConnections = (stack: Stack) =>
  new Promise<number>((resolve, reject) => stack.env.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));

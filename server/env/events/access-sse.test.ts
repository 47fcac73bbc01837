// The fan-out writer behind `access.events` over HTTP: one bus listener for every stream, one
// serialized frame for every subscriber, and a reader that stops reading is cut off, not buffered.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { createOwnerClient } from '../owner/owner-client';
import { requestClient } from '../connect/client-requests.service';
import { approveClient } from '../connect/client-decisions.service';
import { startEnvironment, type EnvRuntime } from '../env-app';
import { fakeThumbprint } from '../testing';
import { MAX_BUFFERED_BYTES } from './access-sse';

let env: EnvRuntime;
let dir: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sse-writer-'));
  env = await startEnvironment({ dataDir: dir, port: 0 });
});
afterEach(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw HTTP/1.1 subscriber that keeps every byte it receives. */
function rawSubscriber(input: object = {}): { socket: Socket; text: () => string } {
  const url = new URL(env.publicUrl);
  const socket = connect(Number(url.port), url.hostname);
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.write(`GET /trpc/access.events?input=${encodeURIComponent(JSON.stringify(input))} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${env.adminToken}\r\nAccept: text/event-stream\r\n\r\n`);
  return { socket, text: () => received };
}

/** The SSE frames after the HTTP head (chunked transfer framing removed). */
function framesOf(text: string): string[] {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4).replace(/(^|\r\n)[0-9a-f]+\r\n/g, '');
  return body.split('\n\n').filter((f) => f.trim() !== '');
}

describe('access.events fan-out writer', () => {
  it('serves many tRPC subscribers from one bus listener, each in order and complete', async () => {
    const baseline = env.deps.bus.listenerCount();
    const client = createOwnerClient(env.publicUrl, env.adminToken);
    const streams = Array.from({ length: 5 }, () => {
      const events: AccessEvent[] = [];
      const sub = client.access.events.subscribe({}, { onData: ({ data }) => events.push(data as AccessEvent) });
      return { events, sub };
    });
    await vi.waitFor(() => expect(streams.every((s) => s.events.length === 1)).toBe(true));
    // The per-subscriber generator would hold five listeners; the writer holds one.
    expect(env.deps.bus.listenerCount()).toBe(baseline + 1);
    requestClient(env.deps, { clientProofKeyThumbprint: fakeThumbprint(1), accountId: 'owner' });
    approveClient(env.deps, fakeThumbprint(1), 'api');
    await vi.waitFor(() => expect(streams.every((s) => s.events.length === 3)).toBe(true));
    for (const s of streams) {
      expect(s.events.map((e) => e.type)).toEqual(['snapshot', 'connectClientUpserted', 'connectClientUpserted']);
      s.sub.unsubscribe();
    }
    await vi.waitFor(() => expect(env.deps.bus.listenerCount()).toBe(baseline));
  });

  it('writes the same bytes to every subscriber, in tRPC’s SSE format', async () => {
    const a = rawSubscriber();
    const b = rawSubscriber();
    await vi.waitFor(() => expect([a.text(), b.text()].every((t) => t.includes('"type":"snapshot"'))).toBe(true));
    requestClient(env.deps, { clientProofKeyThumbprint: fakeThumbprint(2), accountId: 'owner' });
    await vi.waitFor(() => expect([a.text(), b.text()].every((t) => t.includes(fakeThumbprint(2)))).toBe(true));
    const [fa, fb] = [framesOf(a.text()), framesOf(b.text())];
    expect(fa[0]).toBe('event: connected\ndata: {}');
    expect(fa.at(-1)).toBe(fb.at(-1));
    expect(fa.at(-1)).toMatch(new RegExp(`^data: \\{.*"type":"connectClientUpserted".*\\}\\nid: ${env.deps.bus.bootId}\\.\\d+$`));
    a.socket.destroy();
    b.socket.destroy();
  });

  it("a summary subscriber opens with the counts, a snapshot one beside it with the rows; both get the same live frame", async () => {
    requestClient(env.deps, { clientProofKeyThumbprint: fakeThumbprint(4), accountId: 'owner' });
    const summary = rawSubscriber({ opening: 'summary' });
    const snapshot = rawSubscriber();
    await vi.waitFor(() => expect(summary.text()).toContain('"type":"summary"'));
    await vi.waitFor(() => expect(snapshot.text()).toContain('"type":"snapshot"'));
    expect(framesOf(summary.text())[1]).toMatch(/"counts":\{"pending":1,"approved":0,"rejected":0\}/);
    expect(framesOf(summary.text())[1]).not.toContain(fakeThumbprint(4));
    approveClient(env.deps, fakeThumbprint(4), 'api');
    await vi.waitFor(() => expect([summary.text(), snapshot.text()].every((t) => t.includes('"status":"approved"'))).toBe(true));
    expect(framesOf(summary.text()).at(-1)).toBe(framesOf(snapshot.text()).at(-1));
    summary.socket.destroy();
    snapshot.socket.destroy();
  });

  it('cuts off a subscriber that stops reading, while one that reads keeps every event', async () => {
    const baseline = env.deps.bus.listenerCount();
    const stalled = rawSubscriber();
    const reader = rawSubscriber();
    await vi.waitFor(() => expect([stalled.text(), reader.text()].every((t) => t.includes('"type":"snapshot"'))).toBe(true));
    stalled.socket.pause();
    let closed = false;
    stalled.socket.on('close', () => (closed = true));
    // Large events, so the stalled stream passes the kernel's socket buffers and the lag limit.
    const label = 'x'.repeat(64 * 1024);
    const published: number[] = [];
    for (let i = 0; i < 400 && env.deps.bus.listenerCount() > baseline && !closed; i++) {
      const event = env.deps.bus.publish({
        type: 'connectClientRemoved',
        payload: { clientProofKeyThumbprint: fakeThumbprint(3), accountId: label },
      } as never);
      published.push(event.revision);
      await new Promise((r) => setImmediate(r));
    }
    expect(published.length * label.length).toBeGreaterThan(MAX_BUFFERED_BYTES);
    // The stalled stream was destroyed by the server (its socket closes even though it never read).
    stalled.socket.resume();
    await vi.waitFor(() => expect(closed).toBe(true));
    await vi.waitFor(() => expect(reader.text()).toContain(`id: ${env.deps.bus.eventId(published.at(-1)!)}`));
    const ids = framesOf(reader.text()).flatMap((f) => /\nid: \S+\.(\d+)$/.exec(f)?.[1] ?? []).map(Number);
    expect(ids.slice(1)).toEqual(published);
    reader.socket.destroy();
    await vi.waitFor(() => expect(env.deps.bus.listenerCount()).toBe(baseline));
  });
});

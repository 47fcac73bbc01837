// access.events over a real HTTP server and a real SSE connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { createOwnerClient } from '../owner/owner-client';
import { requestClient } from '../connect/client-requests.service';
import { approveClient, revokeClient } from '../connect/client-decisions.service';
import { startEnvironment, type EnvRuntime } from '../env-app';
import { fakeThumbprint } from '../testing';

let env: EnvRuntime;
let dir: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sse-'));
  env = await startEnvironment({ dataDir: dir, port: 0 });
});
afterEach(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

function collect(lastEventId?: string) {
  const client = createOwnerClient(env.publicUrl, env.adminToken);
  const events: Array<{ id: string; event: AccessEvent }> = [];
  const errors: unknown[] = [];
  const sub = client.access.events.subscribe(lastEventId ? { lastEventId } : {}, {
    onData: ({ id, data }) => events.push({ id, event: data as AccessEvent }),
    onError: (e) => errors.push(e),
  });
  return { events, errors, stop: () => sub.unsubscribe() };
}

const ask = (n: number) => requestClient(env.deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });

describe('access.events over SSE', () => {
  it('sends the snapshot first, then upserts and removals in order', async () => {
    ask(1);
    const s = collect();
    await vi.waitFor(() => expect(s.events.length).toBe(1));
    const first = s.events[0]!.event;
    expect(first.type).toBe('snapshot');
    if (first.type !== 'snapshot') return;
    expect(first.payload.connectSecurityMode).toBe('account');
    expect(first.payload.connectClients.map((c) => c.clientProofKeyThumbprint)).toEqual([fakeThumbprint(1)]);
    ask(2);
    approveClient(env.deps, fakeThumbprint(2), 'api');
    revokeClient(env.deps, fakeThumbprint(1), 'api');
    await vi.waitFor(() => expect(s.events.length).toBe(4));
    expect(s.events.slice(1).map((e) => [e.event.type, e.event.type === 'connectClientRemoved' ? e.event.payload.clientProofKeyThumbprint : (e.event.payload as { status?: string }).status])).toEqual([
      ['connectClientUpserted', 'pending'],
      ['connectClientUpserted', 'approved'],
      ['connectClientRemoved', fakeThumbprint(1)],
    ]);
    const revisions = s.events.map((e) => e.event.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(s.errors).toEqual([]);
    s.stop();
  });

  it('does not lose a change made while the subscription is being set up', async () => {
    // The change lands at the moment the stream subscribes to the bus: a stream that read its
    // snapshot before subscribing would miss it in both the snapshot and the events.
    const original = env.deps.bus.subscribe.bind(env.deps.bus);
    let injected = false;
    env.deps.bus.subscribe = (listener) => {
      if (!injected) {
        injected = true;
        ask(9);
      }
      return original(listener);
    };
    const s = collect();
    await vi.waitFor(() => expect(s.events.length).toBeGreaterThan(0));
    const seen = s.events.flatMap(({ event }) =>
      event.type === 'snapshot' ? event.payload.connectClients.map((c) => c.clientProofKeyThumbprint) : event.type === 'connectClientUpserted' ? [event.payload.clientProofKeyThumbprint] : [],
    );
    expect(injected).toBe(true);
    expect(seen).toContain(fakeThumbprint(9));
    s.stop();
  });

  it('a reconnect with an id of this server’s life receives exactly the missed events', async () => {
    const first = collect();
    await vi.waitFor(() => expect(first.events.length).toBe(1));
    ask(1);
    await vi.waitFor(() => expect(first.events.length).toBe(2));
    const lastId = first.events.at(-1)!.id;
    first.stop();
    approveClient(env.deps, fakeThumbprint(1), 'api');
    ask(2);
    const resumed = collect(lastId);
    await vi.waitFor(() => expect(resumed.events.length).toBe(2));
    expect(resumed.events.map((e) => e.event.type)).toEqual(['connectClientUpserted', 'connectClientUpserted']);
    expect(resumed.events.map((e) => (e.event.type === 'connectClientUpserted' ? e.event.payload.clientProofKeyThumbprint : null))).toEqual([fakeThumbprint(1), fakeThumbprint(2)]);
    ask(3);
    await vi.waitFor(() => expect(resumed.events.length).toBe(3));
    resumed.stop();
  });

  it('an id from another server life (or garbage) gets a fresh snapshot', async () => {
    ask(1);
    for (const id of ['otherboot.3', 'garbage', `${env.deps.bus.bootId}.999999`]) {
      const s = collect(id);
      await vi.waitFor(() => expect(s.events.length).toBe(1));
      expect(s.events[0]!.event.type).toBe('snapshot');
      s.stop();
    }
  });

  it('frees its bus listener when the subscriber disconnects', async () => {
    const baseline = env.deps.bus.listenerCount();
    for (let i = 0; i < 5; i++) {
      const s = collect();
      await vi.waitFor(() => expect(s.events.length).toBe(1));
      s.stop();
    }
    await vi.waitFor(() => expect(env.deps.bus.listenerCount()).toBe(baseline));
  });
});

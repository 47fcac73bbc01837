// The tRPC generator of `access.events` (createCaller), tested as fully as the HTTP writer: both
// consume the same feed, so order, resume and "nothing lost during setup" hold for each.
import { describe, expect, it, vi } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { requestClient } from '../connect/client-requests.service';
import { approveClient, revokeClient } from '../connect/client-decisions.service';
import type { EnvDeps } from '../deps';
import { createTestDeps, fakeThumbprint, ownerContext } from '../testing';
import { envRouter } from '../trpc/app-router';
import { accessFeedOf } from './access-feed';
import { MAX_SUBSCRIPTIONS_PER_SESSION } from './subscription-slots';

interface Tracked {
  id: string;
  data: AccessEvent;
}

/** Subscribes through createCaller and reads events as they come. */
async function subscribe(deps: EnvDeps, lastEventId?: string, opening?: 'snapshot' | 'summary') {
  const abort = new AbortController();
  // Each value is tRPC's tracked envelope: [id, data, marker].
  const iterable = (await envRouter.createCaller(ownerContext(deps), { signal: abort.signal }).access.events({ ...(lastEventId && { lastEventId }), ...(opening && { opening }) })) as AsyncIterable<[string, AccessEvent]>;
  const iterator = iterable[Symbol.asyncIterator]();
  return {
    async next(): Promise<Tracked> {
      const [id, data] = (await iterator.next()).value as [string, AccessEvent];
      return { id, data };
    },
    async stop() {
      abort.abort();
      await iterator.return?.();
    },
  };
}

const ask = (deps: EnvDeps, n: number) => requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(n), accountId: 'owner' });
const thumbprintOf = (e: AccessEvent) => (e.type === 'connectClientUpserted' || e.type === 'connectClientRemoved' ? e.payload.clientProofKeyThumbprint : null);

describe('access.events through the tRPC generator', () => {
  it('sends the snapshot first, then upserts and removals in revision order', async () => {
    const { deps } = createTestDeps();
    ask(deps, 1);
    const s = await subscribe(deps);
    const first = (await s.next()).data;
    expect(first.type === 'snapshot' && first.payload.connectClients.map((c) => c.clientProofKeyThumbprint)).toEqual([fakeThumbprint(1)]);
    ask(deps, 2);
    approveClient(deps, fakeThumbprint(2), 'api');
    revokeClient(deps, fakeThumbprint(1), 'api');
    const rest = [await s.next(), await s.next(), await s.next()].map((t) => t.data);
    expect(rest.map((e) => [e.type, thumbprintOf(e)])).toEqual([
      ['connectClientUpserted', fakeThumbprint(2)],
      ['connectClientUpserted', fakeThumbprint(2)],
      ['connectClientRemoved', fakeThumbprint(1)],
    ]);
    const revisions = [first, ...rest].map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    await s.stop();
  });

  it('a resume with an id of this server’s life gets exactly the missed events, then live ones', async () => {
    const { deps } = createTestDeps();
    const first = await subscribe(deps);
    await first.next();
    ask(deps, 1);
    const lastId = (await first.next()).id;
    await first.stop();
    approveClient(deps, fakeThumbprint(1), 'api');
    ask(deps, 2);
    const resumed = await subscribe(deps, lastId);
    const missed = [await resumed.next(), await resumed.next()];
    expect(missed.map((t) => [t.data.type, thumbprintOf(t.data)])).toEqual([
      ['connectClientUpserted', fakeThumbprint(1)],
      ['connectClientUpserted', fakeThumbprint(2)],
    ]);
    expect(missed.map((t) => t.id)).toEqual(missed.map((t) => deps.bus.eventId(t.data.revision)));
    ask(deps, 3);
    expect(thumbprintOf((await resumed.next()).data)).toBe(fakeThumbprint(3));
    await resumed.stop();
  });

  it('an id of another server life gets a fresh snapshot', async () => {
    const { deps } = createTestDeps();
    const s = await subscribe(deps, 'otherboot.3');
    expect((await s.next()).data.type).toBe('snapshot');
    await s.stop();
  });

  it('loses nothing published while the snapshot is read, and sends it once', async () => {
    const { deps } = createTestDeps();
    // The change lands in the middle of the snapshot read (after the subscription, before the rows).
    const select = deps.db.select.bind(deps.db);
    const spy = vi.spyOn(deps.db, 'select').mockImplementationOnce(((...args: Parameters<typeof select>) => {
      ask(deps, 9);
      return select(...args);
    }) as typeof select);
    const s = await subscribe(deps);
    const snapshot = (await s.next()).data;
    spy.mockRestore();
    expect(snapshot.type).toBe('snapshot');
    const after = (await s.next()).data;
    expect(after.revision).toBeGreaterThan(snapshot.revision);
    expect(thumbprintOf(after)).toBe(fakeThumbprint(9));
    ask(deps, 10);
    expect(thumbprintOf((await s.next()).data)).toBe(fakeThumbprint(10)); // and not 9 a second time
    await s.stop();
  });

  it('loses nothing published while a resume reads the history', async () => {
    const { deps } = createTestDeps();
    ask(deps, 1);
    const from = deps.bus.eventId(deps.bus.currentRevision);
    ask(deps, 2);
    const since = deps.bus.since.bind(deps.bus);
    vi.spyOn(deps.bus, 'since').mockImplementationOnce((revision) => {
      const missed = since(revision);
      ask(deps, 3); // after the history was read, before it is delivered
      return missed;
    });
    const s = await subscribe(deps, from);
    expect([(await s.next()).data, (await s.next()).data].map(thumbprintOf)).toEqual([fakeThumbprint(2), fakeThumbprint(3)]);
    ask(deps, 4);
    expect(thumbprintOf((await s.next()).data)).toBe(fakeThumbprint(4));
    await s.stop();
  });

  it('frees its bus listener and its slot when the caller stops', async () => {
    const { deps } = createTestDeps();
    const baseline = deps.bus.listenerCount();
    for (let round = 0; round < 3; round++) {
      const open = await Promise.all(Array.from({ length: MAX_SUBSCRIPTIONS_PER_SESSION }, () => subscribe(deps)));
      for (const s of open) expect((await s.next()).data.type).toBe('snapshot');
      expect(deps.bus.listenerCount()).toBe(baseline + 1); // one feed listener for every stream
      await Promise.all(open.map((s) => s.stop()));
      expect(deps.bus.listenerCount()).toBe(baseline);
    }
  });
});

describe('subscription slots', () => {
  it('are per environment: two environments in one process each have their own cap for the same caller key', async () => {
    const a = createTestDeps().deps;
    const b = createTestDeps().deps;
    const open = await Promise.all(Array.from({ length: MAX_SUBSCRIPTIONS_PER_SESSION }, () => subscribe(a)));
    for (const s of open) await s.next();
    await expect(subscribe(a).then((s) => s.next())).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    const other = await subscribe(b);
    expect((await other.next()).data.type).toBe('snapshot');
    await Promise.all([...open, other].map((s) => s.stop()));
  });
});

describe('the feed', () => {
  it('hands every member the same event object, so a transport serializes it once', () => {
    const { deps } = createTestDeps();
    const seen: unknown[][] = [[], []];
    const leaves = seen.map((into) => accessFeedOf(deps).join(null, (item) => into.push(item)));
    ask(deps, 1);
    expect(seen[0]![1]).toBe(seen[1]![1]);
    for (const leave of leaves) leave();
  });
});

describe('the summary opening (the owner console: rows come from connect.clients.list)', () => {
  it('opens with the mode and the counts, no rows; then the same per-row events as the snapshot stream', async () => {
    const { deps } = createTestDeps();
    ask(deps, 1);
    ask(deps, 2);
    approveClient(deps, fakeThumbprint(2), 'api');
    const s = await subscribe(deps, undefined, 'summary');
    const first = (await s.next()).data;
    expect(first).toMatchObject({ type: 'summary', payload: { counts: { pending: 1, approved: 1, rejected: 0 } } });
    expect(JSON.stringify(first)).not.toContain(fakeThumbprint(1));
    ask(deps, 3);
    revokeClient(deps, fakeThumbprint(1), 'api');
    const rest = [await s.next(), await s.next()].map((t) => t.data);
    expect(rest.map((e) => [e.type, thumbprintOf(e)])).toEqual([
      ['connectClientUpserted', fakeThumbprint(3)],
      ['connectClientRemoved', fakeThumbprint(1)],
    ]);
    await s.stop();
  });

  it('resumes by event id without an opening; an id of another life gets a fresh summary', async () => {
    const { deps } = createTestDeps();
    const s = await subscribe(deps, undefined, 'summary');
    const opened = await s.next();
    await s.stop();
    ask(deps, 4);
    const resumed = await subscribe(deps, opened.id, 'summary');
    expect((await resumed.next()).data).toMatchObject({ type: 'connectClientUpserted', payload: { clientProofKeyThumbprint: fakeThumbprint(4) } });
    await resumed.stop();
    const stale = await subscribe(deps, 'otherboot.1', 'summary');
    expect((await stale.next()).data).toMatchObject({ type: 'summary', payload: { counts: { pending: 1 } } });
    await stale.stop();
  });

  it('an unknown opening is BAD_REQUEST', async () => {
    const { deps } = createTestDeps();
    await expect(envRouter.createCaller(ownerContext(deps)).access.events({ opening: 'everything' } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

// S54 at the relay: an account (or key, or address) holds at most its share of waits; over it the
// client hears 429 with Retry-After and backs off, and other accounts are not affected.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStack, type Stack } from '../testing/stack';
import { createWaitSlots } from './wait-slots';

describe('wait slots', () => {
  it('count per account, key and address, and free on release (twice is harmless)', () => {
    const slots = createWaitSlots({ perAccount: 2, perThumbprint: 1, perAddress: 3 });
    const a = slots.acquire({ account: 'alice', thumbprint: 't1', address: '1.1.1.1' })!;
    expect(slots.acquire({ account: 'alice', thumbprint: 't1', address: '1.1.1.1' })).toBeNull(); // same key
    const b = slots.acquire({ account: 'alice', thumbprint: 't2', address: '1.1.1.1' })!;
    expect(slots.acquire({ account: 'alice', thumbprint: 't3', address: '1.1.1.1' })).toBeNull(); // account full
    const c = slots.acquire({ account: 'bob', thumbprint: 't4', address: '1.1.1.1' })!;
    expect(slots.acquire({ account: 'carol', thumbprint: 't5', address: '1.1.1.1' })).toBeNull(); // address full
    a();
    a();
    expect(slots.held()).toBe(2);
    expect(slots.acquire({ account: 'alice', thumbprint: 't1', address: '2.2.2.2' })).not.toBeNull();
    b();
    c();
  });
});

describe('S54 through the relay', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ relay: { waitLimits: { perAccount: 1, perThumbprint: 1, perAddress: 50 } } });
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
  });
  afterAll(async () => stack.close());

  it('a second waiting device of the same account hears 429 with Retry-After and backs off; one approval later it gets in', async () => {
    const first = await stack.newSigner();
    const abortFirst = new AbortController();
    const holding = stack.connect(first, { waitSeconds: 25, signal: abortFirst.signal }).catch((e) => e);
    await vi.waitFor(() => expect(stack.relay.deps.waitSlots.held()).toBe(1), { timeout: 10_000 });

    const second = await stack.newSigner();
    const statuses: Array<{ status: number; retryAfter: string | null }> = [];
    const watching: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).includes('environments.connect')) statuses.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
      return res;
    };
    const retries: string[] = [];
    const secondConnect = stack.connect(second, { waitSeconds: 25, fetch: watching, onRetry: (r) => retries.push(r.reason), random: () => 0.01 });
    await vi.waitFor(() => expect(retries).toContain('rate_limited'), { timeout: 10_000 });
    expect(statuses).toContainEqual({ status: 429, retryAfter: '2' });

    abortFirst.abort();
    await holding;
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: second.thumbprint });
    const session = await secondConnect;
    expect(session.environmentId).toBe(stack.env.environmentId);
    await vi.waitFor(() => expect(stack.relay.deps.waitSlots.held()).toBe(0));
  }, 60_000);
});

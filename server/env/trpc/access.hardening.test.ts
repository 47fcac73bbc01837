// S45: access.events over real SSE. Only owners subscribe; each owner session has a cap on open
// streams; closing streams frees the bus listeners and the per-session count, cycle after cycle.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDpopProof } from '../../../shared/dpop';
import { postMint, redeem, signedMintRequest } from '../../testing/http-probe';
import { settledMemory } from '../../testing/gc';
import { startStack, type Stack } from '../../testing/stack';
import { MAX_SUBSCRIPTIONS_PER_SESSION } from './access.router';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack.close());

interface OpenStream {
  first: string;
  close(): Promise<void>;
}

/** Opens access.events and reads until the first event (or error event) arrives. */
async function openEvents(headers: Record<string, string>): Promise<OpenStream> {
  const abort = new AbortController();
  const res = await fetch(`${stack.env.publicUrl}/trpc/access.events?input=${encodeURIComponent('{}')}`, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = res.body!.getReader();
  let first = '';
  const deadline = Date.now() + 5000;
  while (!/"type":"snapshot"|event: serialized-error/.test(first) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    first += new TextDecoder().decode(value);
  }
  return {
    first: `${res.status}\n${first}`,
    async close() {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}

const admin = () => ({ authorization: `Bearer ${stack.env.adminToken}` });
const baseline = () => stack.env.deps.bus.listenerCount();

describe('access.events subscriptions', () => {
  it('S45 S39 only owners subscribe: no credentials, a bad token or a DPoP client session → UNAUTHORIZED', async () => {
    const signer = await stack.newSigner();
    const minted = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
    const session = String((await redeem(stack, signer, String(minted.body?.credential))).body?.access_token);
    const url = `${stack.env.publicUrl}/trpc/access.events?input=${encodeURIComponent('{}')}`;
    const dpop = { authorization: `DPoP ${session}`, DPoP: await createDpopProof(signer, { htm: 'GET', htu: url, accessToken: session }) };
    for (const headers of [{}, { authorization: 'Bearer not-the-admin-token' }, dpop] as Array<Record<string, string>>) {
      const stream = await openEvents(headers);
      expect(stream.first).toMatch(/UNAUTHORIZED/);
      expect(stream.first).not.toMatch(/snapshot/);
      await stream.close();
    }
  });

  it(`S45 at most ${MAX_SUBSCRIPTIONS_PER_SESSION} open streams per owner session; another session has its own cap`, async () => {
    const before = baseline();
    const open: OpenStream[] = [];
    try {
      for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_SESSION; i++) {
        const stream = await openEvents(admin());
        expect(stream.first).toMatch(/"type":"snapshot"/);
        open.push(stream);
      }
      const refused = await openEvents(admin());
      expect(refused.first).toMatch(/TOO_MANY_REQUESTS/);
      await refused.close();
      // A cookie session is another owner session with its own budget.
      const code = new URL(stack.env.loginUrl()).hash.replace('#code=', '');
      const login = await fetch(`${stack.env.publicUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: stack.env.publicUrl }, body: JSON.stringify({ code }) });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const other = await openEvents({ cookie });
      expect(other.first).toMatch(/"type":"snapshot"/);
      open.push(other);
    } finally {
      await Promise.all(open.map((s) => s.close()));
    }
    await vi.waitFor(() => expect(baseline()).toBe(before), { timeout: 5000 });
    // The count was released: a full set opens again.
    const again = await Promise.all(Array.from({ length: MAX_SUBSCRIPTIONS_PER_SESSION }, () => openEvents(admin())));
    expect(again.every((s) => /"type":"snapshot"/.test(s.first))).toBe(true);
    await Promise.all(again.map((s) => s.close()));
    await vi.waitFor(() => expect(baseline()).toBe(before), { timeout: 5000 });
  });

  it('S45 after 150 connect/disconnect cycles the listener count is back to baseline and the heap has not grown', async () => {
    const before = baseline();
    // Warm up, then measure.
    for (let i = 0; i < 20; i++) await (await openEvents(admin())).close();
    await vi.waitFor(() => expect(baseline()).toBe(before), { timeout: 5000 });
    const heapBefore = settledMemory().heapMiB;
    for (let round = 0; round < 30; round++) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => openEvents(admin())));
      expect(baseline()).toBeGreaterThan(before);
      await Promise.all(batch.map((s) => s.close()));
    }
    await vi.waitFor(() => expect(baseline()).toBe(before), { timeout: 5000 });
    const grownMiB = settledMemory().heapMiB - heapBefore;
    console.info(`[S45] heap growth after 150 cycles: ${grownMiB.toFixed(2)} MiB`);
    expect(grownMiB).toBeLessThan(4);
    // And the per-session count is free again.
    const all = await Promise.all(Array.from({ length: MAX_SUBSCRIPTIONS_PER_SESSION }, () => openEvents(admin())));
    expect(all.filter((s) => /"type":"snapshot"/.test(s.first))).toHaveLength(MAX_SUBSCRIPTIONS_PER_SESSION);
    await Promise.all(all.map((s) => s.close()));
  });
});

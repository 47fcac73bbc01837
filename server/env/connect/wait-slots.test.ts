// S54 at the environment: one held wait per key, and a full queue says so (429), never an instant
// pending that invites the client to ask again at once.
import { beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../common/errors';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { setSecurityMode } from './security-mode.service';

const RELAY = 'https://relay.waits.test';
const ENV_ID = 'env_waits';

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup(maxWaiters?: number) {
  const env = createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'owner', ...(maxWaiters !== undefined && { maxWaiters }) });
  setSecurityMode(env.deps, 'client-approval', 'api');
  const ask = async (n: number, waitSeconds?: number, signal = new AbortController().signal) => env.mint.mint(await env.sign(fakeThumbprint(n), waitSeconds ? { waitSeconds } : {}), signal);
  return { ...env, ask };
}

describe('S54 waits at the environment', () => {
  it('a second held wait for the same key releases the first: one slot per key, however often it asks', async () => {
    const { mint, ask } = setup();
    await ask(1);
    const first = ask(1, 25);
    await expect.poll(() => mint.waiting()).toBe(1);
    const second = ask(1, 25);
    // The first answers (still pending) as soon as the second holds the key's one slot.
    expect(await first).toMatchObject({ status: 'pending_approval', approvalStatus: 'pending' });
    await expect.poll(() => mint.waiting()).toBe(1);
    const abort = new AbortController();
    const third = ask(1, 25, abort.signal);
    expect(await second).toMatchObject({ status: 'pending_approval' });
    abort.abort();
    await third;
    expect(mint.waiting()).toBe(0);
  });

  it('a full wait queue answers too_many_requests instead of an instant pending', async () => {
    const { mint, ask } = setup(2);
    for (const n of [1, 2, 3]) await ask(n);
    const aborts = [new AbortController(), new AbortController()];
    const held = [ask(1, 25, aborts[0]!.signal), ask(2, 25, aborts[1]!.signal)];
    await expect.poll(() => mint.waiting()).toBe(2);
    const refused = await ask(3, 25).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ kind: 'too_many_requests', reason: 'rate_limited' });
    // Without a wait the same key still gets its ordinary pending answer.
    expect(await ask(3)).toMatchObject({ status: 'pending_approval' });
    for (const a of aborts) a.abort();
    await Promise.all(held);
    expect(mint.waiting()).toBe(0);
  });
});

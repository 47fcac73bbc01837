// The mint service's effect on the client row (SPEC §5.1, §5.3): an authorized mint sets
// `last_seen_at`, and `updated_at` with it ("last change of any kind").
import type { AccessEvent } from '../../../shared/contracts';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { hotQueries } from '../db/hot-queries';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { findActiveClient } from './clients.service';
import { approveClient } from './client-decisions.service';
import { setSecurityMode } from './security-mode.service';

const RELAY = 'https://relay.mint.test';
const ENV_ID = 'env_mint';
const T = fakeThumbprint(7);

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup() {
  const { deps, clock, mint, sign } = createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'owner' });
  setSecurityMode(deps, 'client-approval', 'api');
  const ask = async (waitSeconds?: number) => mint.mint(await sign(T, waitSeconds ? { waitSeconds } : {}), new AbortController().signal);
  return { deps, clock, mint, ask };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('mint service: last_seen_at and updated_at', () => {
  it('an approved client approved while its request is held open: the credential sets last_seen_at and updated_at to that moment', async () => {
    const { deps, clock, mint, ask } = setup();
    expect((await ask()).status).toBe('pending_approval');
    const held = ask(20);
    await expect.poll(() => mint.waiting()).toBe(1);
    clock.advance(1000);
    approveClient(deps, T, 'web');
    const approvedAt = iso(clock.now());
    clock.advance(5000); // the held request decides again after the approval, at a later moment
    expect((await held).status).toBe('authorized');
    const row = findActiveClient(deps.db, T)!;
    expect(row.approvedAt).toBe(approvedAt);
    expect(row.lastSeenAt).toBe(iso(clock.now()));
    expect(row.updatedAt).toBe(row.lastSeenAt);
  });

  it('a later authorized mint moves both again', async () => {
    const { deps, clock, ask } = setup();
    await ask();
    approveClient(deps, T, 'web');
    clock.advance(60_000);
    expect((await ask()).status).toBe('authorized');
    const row = findActiveClient(deps.db, T)!;
    expect([row.lastSeenAt, row.updatedAt]).toEqual([iso(clock.now()), iso(clock.now())]);
  });

  it('the event of an authorized mint carries the last_seen_at it set; a repeat within the second sends none', async () => {
    const { deps, clock, ask } = setup();
    await ask();
    approveClient(deps, T, 'web');
    clock.advance(60_000);
    const events: AccessEvent[] = [];
    const stop = deps.bus.subscribe((e) => events.push(e));
    expect((await ask()).status).toBe('authorized');
    clock.advance(200);
    expect((await ask()).status).toBe('authorized');
    stop();
    expect(events.map((e) => e.type)).toEqual(['connectClientUpserted']);
    const [event] = events;
    expect(event?.type === 'connectClientUpserted' && event.payload.lastSeenAt).toBe(iso(clock.now() - 200));
  });
});

describe('mint service: cheap refusals first', () => {
  it('P4 a wrong typ, a stale or a future request is refused before the relay link is read; a valid one reads it once', async () => {
    const { deps, clock, mint, ask } = setup();
    const reads = vi.spyOn(hotQueries(deps.db).readRelayLink, 'get');
    const relayKey2 = await createRelayTestKey(); // any key: these refusals never reach a signature check
    const forged = async (over: Record<string, unknown>, typ = 'gatehouse-mint-request+jwt') =>
      new SignJWT({ iss: RELAY, aud: `env:${ENV_ID}`, sub: 'owner', jti: 'j'.repeat(22), nonce: 'n'.repeat(22), ...over }).setProtectedHeader({ alg: 'EdDSA', typ }).sign(relayKey2.privateKey);
    const now = Math.floor(clock.now() / 1000);
    for (const token of [await forged({ iat: now, exp: now + 120 }, 'JWT'), await forged({ iat: now - 3600, exp: now - 3480 }), await forged({ iat: now + 3600, exp: now + 3720 })]) {
      await expect(mint.mint(token, new AbortController().signal)).rejects.toMatchObject({ reason: 'invalid_request' });
    }
    expect(reads).not.toHaveBeenCalled();
    setSecurityMode(deps, 'account', 'api');
    expect((await ask()).status).toBe('authorized');
    expect(reads).toHaveBeenCalledTimes(1);
  });
});

// Replay markers are pruned on a timer: steady client traffic (one `dpop` marker per request) with no
// mints keeps the table bounded by rate × (marker lifetime + prune interval), not by the call count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDpopProof } from '../../../shared/dpop';
import { manualClock } from '../../common/clock';
import { DPOP_MAX_AGE_SECONDS, DPOP_MAX_FUTURE_SECONDS } from '../../dpop/verify-dpop';
import { signMintRequest } from '../../mint/mint-protocol';
import { postMint, probe, redeem } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';
import { startEnvironment, type EnvRuntime } from '../env-app';
import { countMarkers, MARKER_PRUNE_INTERVAL_MS } from './replay';

let stack: Stack;
let env: EnvRuntime;
let dataDir: string;
const clock = manualClock(Date.now());

beforeAll(async () => {
  stack = await startStack();
  dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-prune-'));
  // Only the env's interval timers are the test's: its pruner ticks when the test moves time.
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  env = await startEnvironment({ dataDir, port: 0, clock });
  await env.link(stack.relay.publicUrl, await stack.idToken());
});
afterAll(async () => {
  await env.close();
  vi.useRealTimers();
  await stack.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('replay marker pruning', () => {
  it('the dpop markers of steady client.whoami traffic stay bounded without any mint (4 simulated minutes, 4 calls a second)', async () => {
    const signer = await stack.newSigner();
    const { token: mintRequest } = await signMintRequest(stack.relay.deps.signingKey.privateKey, {
      relayIssuer: stack.relay.publicUrl,
      environmentId: env.environmentId,
      accountId: 'owner',
      clientProofKeyThumbprint: signer.thumbprint,
      now: clock.now(),
    });
    const minted = await postMint({ ...stack, env } as Stack, mintRequest);
    expect(minted.body?.status).toBe('authorized');
    const redeemed = await redeem({ ...stack, env } as Stack, signer, String(minted.body?.credential));
    const session = String(redeemed.body?.access_token);
    const whoamiUrl = `${env.publicUrl}/trpc/client.whoami`;

    const perSecond = 4;
    const lifetimeSeconds = DPOP_MAX_AGE_SECONDS + DPOP_MAX_FUTURE_SECONDS;
    const bound = perSecond * (lifetimeSeconds + MARKER_PRUNE_INTERVAL_MS / 1000) + 10; // the login/redeem markers
    let calls = 0;
    let highest = 0;
    for (let second = 0; second < 240; second++) {
      for (let i = 0; i < perSecond; i++) {
        const dpop = await createDpopProof(signer, { htm: 'GET', htu: whoamiUrl, accessToken: session, now: clock.now() });
        const res = await probe(whoamiUrl, { headers: { authorization: `DPoP ${session}`, DPoP: dpop } });
        expect(res.status).toBe(200);
        calls++;
      }
      clock.advance(1000);
      vi.advanceTimersByTime(1000);
      highest = Math.max(highest, countMarkers(env.deps.db));
    }
    expect(calls).toBe(960);
    expect(highest).toBeLessThanOrEqual(bound);
    // 70 s after the traffic stops, one more tick leaves nothing expired behind.
    clock.advance(70_000);
    vi.advanceTimersByTime(MARKER_PRUNE_INTERVAL_MS);
    expect(countMarkers(env.deps.db)).toBe(0);
  }, 60_000);
});

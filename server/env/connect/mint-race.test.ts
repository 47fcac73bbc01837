// S40/S41: 1,000 rounds of mint ∥ revoke (and ∥ reject) on one client. Whatever the interleaving,
// once the decision has committed no credential is redeemable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof } from '../../../shared/dpop';
import { signMintRequest } from '../../mint/mint-protocol';
import { startStack, type Stack } from '../../testing/stack';
import { requestClient } from './client-requests.service';
import { approveClient, rejectClient, revokeClient } from './client-decisions.service';
import { setSecurityMode } from './security-mode.service';

const ROUNDS = 1000;
let stack: Stack;
beforeAll(async () => {
  // A revoked client asking again is a new pending registration; 1,000 rounds in a few seconds
  // would meet the new-client rate limit (S44), which is not what this test is about.
  stack = await startStack({ env: { newClientRateLimit: { perSecond: 1e6, burst: 1e6 } } });
  setSecurityMode(stack.env.deps, 'client-approval', 'api');
});
afterAll(async () => stack.close());

const turns = (n: number) => new Promise<void>((resolve) => {
  const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
  step(n);
});

async function race(decide: typeof revokeClient | typeof rejectClient) {
  const { env, relay } = stack;
  const signer = await stack.newSigner();
  const thumbprint = signer.thumbprint;
  const counts = { authorized: 0, pending: 0, redeemedAfterDecision: 0, leftoverCredentials: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    requestClient(env.deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
    approveClient(env.deps, thumbprint, 'api');
    const { token } = await signMintRequest(relay.deps.signingKey.privateKey, {
      relayIssuer: relay.publicUrl,
      environmentId: env.environmentId,
      accountId: 'owner',
      clientProofKeyThumbprint: thumbprint,
      now: Date.now(),
    });
    const [answer] = await Promise.all([
      env.mint.mint(token, new AbortController().signal),
      turns(round % 4).then(() => decide(env.deps, thumbprint, 'api')),
    ]);
    if (answer.status === 'authorized') {
      counts.authorized++;
      const res = await fetch(`${env.publicUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: `${env.publicUrl}/oauth/token` }) },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: answer.credential, subject_token_type: 'urn:gatehouse:token-type:connect-credential' }),
      });
      if (res.status === 200) counts.redeemedAfterDecision++;
    } else {
      counts.pending++;
    }
    const leftover = env.deps.db.$client
      .prepare('SELECT count(*) AS n FROM connect_credentials WHERE client_proof_key_thumbprint = ? AND redeemed_at IS NULL')
      .get(thumbprint) as { n: number };
    counts.leftoverCredentials += leftover.n;
  }
  return counts;
}

describe('mint races a decision', () => {
  it.each([
    ['S40 revoke', revokeClient],
    ['S42 reject', rejectClient],
  ] as const)(`%s: ${ROUNDS} rounds, no credential redeemable once the decision committed`, { timeout: 180_000 }, async (_name, decide) => {
    const counts = await race(decide);
    // Both orders happened, so the race was really exercised …
    expect(counts.authorized).toBeGreaterThan(0);
    expect(counts.pending).toBeGreaterThan(0);
    // … and no credential minted before the decision survived it.
    expect(counts.redeemedAfterDecision).toBe(0);
    expect(counts.leftoverCredentials).toBe(0);
  });
});

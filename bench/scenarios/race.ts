// P10: mint ∥ revoke, many rounds on one client (SECURITY S40). Each round re-approves the client,
// starts a mint (the endpoint's service, with a real relay-signed request) and a revoke at a point
// spread over the mint's own duration (measured first), so both orders happen; then it checks the invariant: once the revoke has committed, no credential of that client is redeemable
// and none is left unredeemed. A violation is a redeemed credential or a leftover one.
import { createDpopProof } from '../../shared/dpop';
import { requestClient } from '../../server/env/connect/client-requests.service';
import { approveClient, revokeClient } from '../../server/env/connect/client-decisions.service';
import { setSecurityMode } from '../../server/env/connect/security-mode.service';
import { signMintRequest } from '../../server/mint/mint-protocol';
import { startStack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { median } from '../lib/stats';

/** Lets the event loop run (I/O, crypto completions) for about `ms`, then resolves; bounded by time. */
const spin = (ms: number) =>
  new Promise<void>((resolve) => {
    const until = performance.now() + ms;
    const step = () => (performance.now() >= until ? resolve() : setImmediate(step));
    step();
  });

/** Up to `rounds` rounds, stopping early when `maxMs` has passed (the rounds done are reported). */
export async function raceRun(ctx: BenchContext, rounds: number, maxMs: number): Promise<RunMetrics> {
  // Each round makes the revoked client new again; at thousands of rounds a second that would meet
  // the new-client rate limit (S44), which P8 measures and this race is not about.
  const stack = await startStack({ env: { newClientRateLimit: { perSecond: 1e6, burst: 1e6 } } });
  const { env, relay } = stack;
  const counts = { authorized: 0, pending: 0, redeemed: 0, leftover: 0, errors: 0 };
  try {
    setSecurityMode(env.deps, 'client-approval', 'api');
    const signer = await stack.newSigner();
    const thumbprint = signer.thumbprint;
    const tokenUrl = `${env.publicUrl}/oauth/token`;
    const leftover = env.deps.db.$client.prepare('SELECT count(*) AS n FROM connect_credentials WHERE client_proof_key_thumbprint = ? AND redeemed_at IS NULL');
    const sign = async () =>
      (
        await signMintRequest(relay.deps.signingKey.privateKey, {
          relayIssuer: relay.publicUrl,
          environmentId: env.environmentId,
          accountId: 'owner',
          clientProofKeyThumbprint: thumbprint,
          now: Date.now(),
        })
      ).token;
    // How long a mint of an approved client takes here, so the revoke can land anywhere in it.
    const durations: number[] = [];
    for (let i = 0; i < 20; i++) {
      requestClient(env.deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
      approveClient(env.deps, thumbprint, 'api');
      const token = await sign();
      const t0 = performance.now();
      await env.mint.mint(token, new AbortController().signal);
      durations.push(performance.now() - t0);
      revokeClient(env.deps, thumbprint, 'api');
    }
    const mintMs = median(durations);
    const started = performance.now();
    let round = 0;
    for (; round < rounds && performance.now() - started < maxMs; round++) {
      requestClient(env.deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner' });
      approveClient(env.deps, thumbprint, 'api');
      const token = await sign();
      const revokeAfterMs = ((round % 16) / 15) * 0.7 * mintMs;
      let answer;
      try {
        [answer] = await Promise.all([env.mint.mint(token, new AbortController().signal), spin(revokeAfterMs).then(() => revokeClient(env.deps, thumbprint, 'api'))]);
      } catch {
        counts.errors++;
        continue;
      }
      if (answer.status === 'authorized') {
        counts.authorized++;
        const res = await fetch(tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: tokenUrl }) },
          body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: answer.credential, subject_token_type: 'urn:gatehouse:token-type:connect-credential' }),
        });
        await res.arrayBuffer();
        if (res.status === 200) counts.redeemed++;
      } else {
        counts.pending++;
      }
      counts.leftover += (leftover.get(thumbprint) as { n: number }).n;
      if (round > 0 && round % 2000 === 0) ctx.log(`    ${round} rounds, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    const violations = counts.redeemed + counts.leftover;
    ctx.log(`    ${round} rounds${round < rounds ? ` (of ${rounds}: out of time)` : ''}: ${counts.authorized} minted before the revoke, ${counts.pending} after; violations ${violations} (redeemed ${counts.redeemed}, leftover ${counts.leftover})${counts.errors ? `; ${counts.errors} errors` : ''}`);
    return { rounds: round, mintMs, violations, authorized: counts.authorized, pending: counts.pending, errors: counts.errors, seconds: (performance.now() - started) / 1000 };
  } finally {
    await stack.close();
  }
}

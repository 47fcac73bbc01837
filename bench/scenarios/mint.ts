// L, P1–P4: mint throughput. L is the in-process composite a mint cannot beat (committed the way the
// product commits); L_cpu is the same without the database, and the fsync per COMMIT is measured
// beside them. P1–P4 go over the environment's real HTTP endpoint with load from the separate worker
// process.
//
// The machine is shared, so each run interleaves short slices (L, P1, P2, P3, P4, H, L, P1, …) and
// adds them up: a burst of someone else's work lands on every item alike, not on one of them.
// H (report only) is the HTTP floor P4 stands on: a bare node:http server that reads each body and
// refuses it, with the same bodies and load.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { openEnvDatabase } from '../../server/env/db/database';
import { requestClient } from '../../server/env/connect/client-requests.service';
import { approveClient } from '../../server/env/connect/client-decisions.service';
import { setSecurityMode } from '../../server/env/connect/security-mode.service';
import { randomCredential } from '../../server/env/connect/credentials.service';
import { createDecisionCommitGroup } from '../../server/env/connect/mint.service';
import { envAudience, MINT_REQUEST_TYP, MINT_RESPONSE_TYP, type MintRequestClaims } from '../../server/mint/mint-protocol';
import { startStack, type Stack } from '../../server/testing/stack';
import { withLoopDelay, type BenchContext, type RunMetrics } from '../lib/context';
import { profiled } from '../lib/slice-profile';
import { threadCpu } from '../lib/thread-cpu';
import { median, percentile } from '../lib/stats';
import { invalidBodies, MINT_PATH, randomThumbprint, signedBodies, signRequests } from '../lib/mint-requests';
import type { LoadArgs } from '../lib/worker-protocol';

export const IN_FLIGHT = 64;

/**
 * L: jose verify of each pre-made mint request, the account-mode mint transaction with raw prepared
 * statements (mode read, jti + nonce markers, credential row) committed through the product's own
 * commit policy (`createDecisionCommitGroup`, so a change to it moves L too) on a database opened
 * exactly like the environment's (same file system, WAL, synchronous=FULL), and jose sign of the
 * response; same algorithms and keys, 64 in flight, one process, no HTTP.
 * L_cpu: the same work with the database step left out.
 */
function createBaseline(stack: Stack) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-l-'));
  const db = openEnvDatabase(join(dir, 'env.sqlite'));
  const sqlite = db.$client;
  const readMode = sqlite.prepare('SELECT security_mode FROM connect_settings WHERE id = 1');
  const insertMarker = sqlite.prepare('INSERT INTO replay_markers (kind, key, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
  const insertCredential = sqlite.prepare(
    'INSERT INTO connect_credentials (credential_hash, client_proof_key_thumbprint, account_id, security_mode, client_version, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const commits = createDecisionCommitGroup(db);
  const mintWork = (claims: MintRequestClaims, now: number) => {
    readMode.get();
    const expiry = claims.exp * 1000 + 60_000;
    if (insertMarker.run('mint-jti', claims.jti, expiry).changes !== 1 || insertMarker.run('mint-nonce', claims.nonce, expiry).changes !== 1) throw new Error('replayed');
    const credential = randomCredential();
    insertCredential.run(createHash('sha256').update(credential).digest('hex'), claims.clientProofKeyThumbprint, claims.sub, 'account', null, now, now + 120_000);
    return credential;
  };
  const relayKey = stack.relay.deps.signingKey.publicKey;
  const envKey = stack.env.signingKey;
  const environmentId = stack.env.environmentId;
  const verifyOptions = { algorithms: ['EdDSA'], typ: MINT_REQUEST_TYP, issuer: stack.relay.publicUrl, audience: envAudience(environmentId), clockTolerance: 60 };

  const one = async (token: string, withDatabase: boolean) => {
    const { payload } = await jwtVerify(token, relayKey, verifyOptions);
    const claims = payload as unknown as MintRequestClaims;
    const now = Date.now();
    const credential = withDatabase ? await commits.run(() => mintWork(claims, now)) : randomCredential();
    const iat = Math.floor(now / 1000);
    const claimsOut = {
      iss: envAudience(environmentId),
      aud: claims.iss,
      sub: environmentId,
      jti: randomBytes(16).toString('base64url'),
      iat,
      exp: iat + 120,
      environmentId,
      clientProofKeyThumbprint: claims.clientProofKeyThumbprint,
      requestNonce: claims.nonce,
      credential,
    };
    return new SignJWT(claimsOut).setProtectedHeader({ alg: 'EdDSA', typ: MINT_RESPONSE_TYP, kid: envKey.kid }).sign(envKey.privateKey);
  };

  // The fsync a COMMIT pays on this database, measured on one-row transactions of its own table.
  const probeInsert = sqlite.prepare('INSERT INTO replay_markers (kind, key, expires_at) VALUES (?, ?, 0)');
  const begin = sqlite.prepare('BEGIN IMMEDIATE');
  const commit = sqlite.prepare('COMMIT');

  return {
    /** Runs every token through the composite, IN_FLIGHT at a time; returns elapsed ms. */
    async run(tokens: string[], withDatabase = true): Promise<number> {
      let next = 0;
      const started = performance.now();
      const lane = async () => {
        while (next < tokens.length) await one(tokens[next++]!, withDatabase);
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
      return performance.now() - started;
    },
    /** Milliseconds per COMMIT of `count` one-row transactions (WAL, synchronous=FULL). */
    commitMs(count: number): number[] {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        begin.run();
        probeInsert.run('fsync-probe', randomBytes(8).toString('hex'));
        const started = performance.now();
        commit.run();
        times.push(performance.now() - started);
      }
      return times;
    },
    close() {
      sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** H: a node:http server that reads the body and answers a 401 JSON refusal, nothing else. */
async function startBareRefusalServer(): Promise<{ url: string; close(): Promise<void> }> {
  const answer = JSON.stringify({ error: 'invalid_request', reason: 'invalid_request', message: 'Mint request refused: mint request must have typ gatehouse-mint-request+jwt' });
  const server = createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer), 'cache-control': 'no-store' });
      res.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface Tally {
  sent: number;
  ms: number;
  bad: number;
  loopP99: number[];
  samples: string[];
  /** CPU of this process (the servers, or L itself) and of the load generator, and the requests they served. */
  cpuMs: number;
  loadCpuMs: number;
  served: number;
  /** This process's CPU ms by thread group (main, v8, pool). */
  threads: Record<string, number>;
}
const tally = (): Tally => ({ sent: 0, ms: 0, bad: 0, loopP99: [], samples: [], cpuMs: 0, loadCpuMs: 0, served: 0, threads: {} });
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** Runs `work`, adding this process's CPU (in all and by thread group) to `into`. */
async function countCpu<T>(into: Tally, work: () => Promise<T>): Promise<T> {
  const c0 = cpuNow();
  const t0 = threadCpu();
  try {
    return await work();
  } finally {
    into.cpuMs += cpuNow() - c0;
    for (const [group, ms] of Object.entries(threadCpu())) into.threads[group] = (into.threads[group] ?? 0) + ms - (t0[group] ?? 0);
  }
}
const threadMetrics = (name: string, t: Tally): RunMetrics =>
  Object.fromEntries(['main', 'v8', 'pool'].map((group) => [`${name}_${group}_us`, ((t.threads[group] ?? 0) * 1000) / Math.max(1, t.served)]));
const threadsPer = (t: Tally) =>
  Object.entries(t.threads)
    .map(([group, ms]) => `${group} ${((ms * 1000) / Math.max(1, t.served)).toFixed(0)}`)
    .join(', ');
/** CPU µs per request served. */
const cpuPer = (t: Tally) => (t.cpuMs * 1000) / Math.max(1, t.served);
const loadCpuPer = (t: Tally) => (t.loadCpuMs * 1000) / Math.max(1, t.sent);
const rps = (t: Tally) => (t.sent / t.ms) * 1000;

async function loadSlice(ctx: BenchContext, target: Stack | string, into: Tally, args: Pick<LoadArgs, 'bodies' | 'warmup' | 'expectStatus' | 'expectContains'>) {
  const url = new URL(typeof target === 'string' ? target : target.env.publicUrl);
  // This process's CPU over the whole call (warm-up included, so counted in `served`).
  const { result, loopP99 } = await countCpu(into, () =>
    withLoopDelay(() => ctx.worker.call('load', { host: url.hostname, port: Number(url.port), path: MINT_PATH, concurrency: IN_FLIGHT, maxDurationMs: 60_000, ...args })),
  );
  into.served += result.sent + (args.warmup?.length ?? 0);
  into.loadCpuMs += result.cpuMs;
  into.sent += result.sent;
  into.ms += result.ms;
  into.bad += result.errors + result.unexpected;
  into.loopP99.push(loopP99);
  if (result.sample && into.samples.length < 3) into.samples.push(result.sample);
}

/** One run of L, P1, P2, P3, P4 (and H) on a fresh relay + environment, in interleaved slices. */
export async function mintRun(ctx: BenchContext): Promise<RunMetrics> {
  const slices = ctx.size(6, 2);
  const perSlice = ctx.size(600, 250);
  const warm = IN_FLIGHT;
  const stack = await startStack();
  const baseline = createBaseline(stack);
  const bare = await startBareRefusalServer();
  const deps = stack.env.deps;
  const approved = randomThumbprint();
  const pendingKeys = Array.from({ length: 8 }, randomThumbprint);
  let pendingAsks = 0;
  const [L, Lcpu, P1, P2, P3, P4, H] = [tally(), tally(), tally(), tally(), tally(), tally(), tally()];
  const commitMs: number[] = [];
  try {
    requestClient(deps, { clientProofKeyThumbprint: approved, accountId: 'owner' });
    approveClient(deps, approved, 'api');
    for (let s = 0; s < slices; s++) {
      const lTokens = async (count: number) => (await signRequests(stack, count, { thumbprint: () => approved })).map((r) => r.token);
      await baseline.run(await lTokens(warm));
      const lBatch = await lTokens(perSlice);
      L.ms += await countCpu(L, () => profiled(`L-${s}`, () => baseline.run(lBatch)));
      L.sent += lBatch.length;
      L.served += lBatch.length;
      const cpuBatch = await lTokens(perSlice);
      Lcpu.ms += await baseline.run(cpuBatch, false);
      Lcpu.sent += cpuBatch.length;
      commitMs.push(...baseline.commitMs(ctx.size(200, 100)));

      setSecurityMode(deps, 'account', 'api');
      const accountKey = () => randomThumbprint();
      const p1 = { warmup: await signedBodies(stack, warm, { thumbprint: accountKey }), bodies: await signedBodies(stack, perSlice, { thumbprint: accountKey }) };
      await profiled(`P1-${s}`, () => loadSlice(ctx, stack, P1, { ...p1, expectStatus: [200, 200], expectContains: '"status":"authorized"' }));

      setSecurityMode(deps, 'client-approval', 'api');
      await loadSlice(ctx, stack, P2, {
        warmup: await signedBodies(stack, warm, { thumbprint: () => approved }),
        bodies: await signedBodies(stack, perSlice, { thumbprint: () => approved }),
        expectStatus: [200, 200],
        expectContains: '"status":"authorized"',
      });

      const pendingKey = (i: number) => pendingKeys[i % pendingKeys.length]!;
      await loadSlice(ctx, stack, P3, {
        warmup: await signedBodies(stack, warm, { thumbprint: pendingKey }),
        bodies: await signedBodies(stack, perSlice, { thumbprint: pendingKey }),
        expectStatus: [200, 200],
        expectContains: '"status":"pending_approval"',
      });
      pendingAsks += warm + perSlice;

      const invalid = { warmup: await invalidBodies(stack, warm), bodies: await invalidBodies(stack, perSlice * 4), expectStatus: [400, 499] as [number, number] };
      await loadSlice(ctx, stack, P4, invalid);
      await loadSlice(ctx, bare.url, H, invalid);
      ctx.log(`    slice ${s + 1}/${slices}: L ${rps(L).toFixed(0)}  L_cpu ${rps(Lcpu).toFixed(0)}  P1 ${rps(P1).toFixed(0)}  P2 ${rps(P2).toFixed(0)}  P3 ${rps(P3).toFixed(0)}  P4 ${rps(P4).toFixed(0)}  H ${rps(H).toFixed(0)} req/s (cumulative)`);
    }

    // P3's correctness half: however often each pending key asked, it has exactly one row.
    const rows = deps.db.$client
      .prepare(`SELECT client_proof_key_thumbprint AS t, count(*) AS n, sum(request_count) AS asks FROM connect_clients WHERE client_proof_key_thumbprint IN (${pendingKeys.map(() => '?').join(',')}) GROUP BY t`)
      .all(...pendingKeys) as { t: string; n: number; asks: number }[];
    const oneRowPerKey = rows.length === pendingKeys.length && rows.every((r) => r.n === 1);
    const asksCounted = rows.reduce((a, r) => a + r.asks, 0) === pendingAsks;
    for (const [name, t] of Object.entries({ P1, P2, P3, P4 })) if (t.bad) ctx.log(`    ! ${name}: ${t.bad} errors or unexpected answers, e.g. ${t.samples.join(' | ')}`);
    if (!oneRowPerKey || !asksCounted) ctx.log(`    ! P3 rows: ${JSON.stringify(rows)} (expected ${pendingKeys.length} rows, ${pendingAsks} asks)`);

    ctx.log(`    CPU µs/mint by thread: P1 ${threadsPer(P1)} (load generator ${loadCpuPer(P1).toFixed(0)}); L ${threadsPer(L)}`);
    const loop = (t: Tally) => Math.max(...t.loopP99);
    return {
      L: rps(L),
      L_cpu: rps(Lcpu),
      fsync_ms: median(commitMs),
      fsync_p90_ms: percentile(commitMs, 90),
      P1: rps(P1),
      P1_of_Lcpu: rps(P1) / rps(Lcpu),
      P1_ratio: rps(P1) / rps(L),
      P1_errors: P1.bad,
      P1_loopP99: loop(P1),
      P1_cpu_us: cpuPer(P1),
      P1_load_cpu_us: loadCpuPer(P1),
      L_cpu_us: cpuPer(L),
      ...threadMetrics('P1', P1),
      ...threadMetrics('L', L),
      P2: rps(P2),
      P2_ratio: rps(P2) / rps(P1),
      P2_errors: P2.bad,
      P3: rps(P3),
      P3_ratio: rps(P3) / rps(P1),
      P3_errors: P3.bad,
      P3_oneRowPerKey: oneRowPerKey && asksCounted ? 1 : 0,
      P4: rps(P4),
      P4_ratio: rps(P4) / rps(P1),
      P4_errors: P4.bad,
      H: rps(H),
      P4_of_H: rps(P4) / rps(H),
    };
  } finally {
    await bare.close();
    baseline.close();
    await stack.close();
  }
}

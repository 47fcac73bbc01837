// R1, R2: relay connect throughput on PostgreSQL (SPEC §9), with one and with two relay instances.
//
// Every connect goes the full way: POST /trpc/environments.connect with a pre-made relay access
// token and a fresh, never used DPoP proof → the balancer → a relay (token + proof check, DPoP
// replay marker and link lookup in PostgreSQL, mint request signed) → the environment's mint
// endpoint (account mode: verify, SQLite mint transaction, signed answer) → verified by the relay →
// `{"status":"authorized", credential}` back to the client. IN_FLIGHT connects are in flight.
//
// Processes, all on 127.0.0.1: this one (orchestration and the load client), the balancer, relay A,
// relay B and the environment each in their own child (this same file, by ROLE_ENV), plus
// PostgreSQL. R1 routes everything to A, R2 round-robins A and B; B idles during R1. Both go
// through the same balancer, so its hop costs both alike. The run interleaves short slices
// (R1, R2, R2, R1, …) and adds them up, so a burst of someone else's work lands on both alike.
//
//   npx tsx bench/relay-pg.ts [--smoke]     (GATEHOUSE_TEST_DATABASE_URL, or a throwaway cluster)
//   npx tsx bench/relay-pg.ts --scale [--smoke]   R3, R4, R5 (issue 15): three instances, a tunnelled env
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { getRelayAccessToken } from '../shared/client/connect';
import { createDpopProof, createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../shared/dpop';
import { setSecurityMode } from '../server/env/connect/security-mode.service';
import { startEnvironment, type EnvRuntime } from '../server/env/env-app';
import { startRelay, type RelayRuntime } from '../server/relay/relay-app';
import { BACKEND_IDLE_MS, startLoadBalancer, type Backend, type LoadBalancer } from '../server/testing/load-balancer';
import { createTestDatabase, startThrowawayPostgres, TEST_DATABASE_ENV, type ThrowawayPostgres } from '../server/testing/postgres';
import type { JWK } from 'jose';
import { measureCryptoFloor } from './lib/crypto-floor';
import { startOidcPeer, type OidcPeer } from './lib/oidc-peer';
import { startSliceProfile } from './lib/slice-profile';
import { threadCpu } from './lib/thread-cpu';

export const IN_FLIGHT = 32;
/** Connections each relay instance may hold to PostgreSQL (the relay's default). */
export const POOL_MAX = 10;
const CONNECT_PATH = '/trpc/environments.connect';
const ROLE_ENV = 'GATEHOUSE_BENCH_RELAY_PG_ROLE';
const CHILD_CALL_TIMEOUT_MS = 60_000;
/** Away from the tests' 55432, so a test run starting its own cluster at the same time does not race us for a port. */
const PG_FIRST_PORT = 56432;

export interface RelayPgEntry {
  value: number;
  unit: string;
  ratio?: number;
  against?: string;
  target?: number;
  pass?: boolean;
  note?: string;
}

// ---------------------------------------------------------------------------------------------
// Children: one relay, the environment, or the balancer, driven over IPC ({id, cmd, args}).

export type Role = 'relay' | 'env' | 'lb' | 'peer';

async function serveChild(role: Role): Promise<void> {
  let relay: RelayRuntime | null = null;
  let env: EnvRuntime | null = null;
  let lb: LoadBalancer | null = null;
  let peer: OidcPeer | null = null;
  let stopProfile: ((name: string) => Promise<void>) | null = null;
  const handlers: Record<string, (args: any) => unknown> = {
    async startRelay(a: { dataDir: string; publicUrl?: string; databaseUrl?: string; poolMax?: number; internalUrl?: string; internalSecretFile?: string; port?: number }) {
      // R1/R2 measure the shared store, so the environment is called at a direct endpoint (loopback).
      // Without databaseUrl: the embedded SQLite store (one instance, as `gatehouse relay` runs by default).
      relay = await startRelay({
        dataDir: a.dataDir,
        port: a.port ?? 0,
        devIssuer: true,
        ...(a.publicUrl && { publicUrl: a.publicUrl }),
        ...(a.databaseUrl && { databaseUrl: a.databaseUrl, databasePoolMax: a.poolMax }),
        ...(a.internalUrl && { internalUrl: a.internalUrl, internalSecretFile: a.internalSecretFile }),
        allowPrivateEndpoints: true,
      });
      // As behind any balancer: the backend's keep-alive outlives the balancer's idle timeout.
      relay.server.keepAliveTimeout = BACKEND_IDLE_MS;
      const address = relay.server.address();
      return { port: typeof address === 'object' && address ? address.port : 0, publicUrl: relay.publicUrl };
    },
    holdsTunnel: (a: { environmentId: string }) => relay!.deps.tunnels.has(a.environmentId),
    seesTunnelAt: async (a: { environmentId: string }) => (await relay!.deps.peers?.locate(a.environmentId))?.internalUrl ?? null,
    internalUrl: () => relay!.internalUrl ?? null,
    idToken: (a: { account: string }) => relay!.devIssuer!.issueIdToken(a.account),
    async startEnv(a: { dataDir: string; connectOrigins: string[]; tunnel?: { backoffBaseMs: number; backoffMaxMs: number } | true }) {
      env = await startEnvironment({ dataDir: a.dataDir, port: 0, connectOrigins: a.connectOrigins, tunnel: a.tunnel ?? false });
      return { environmentId: env.environmentId, publicUrl: env.publicUrl };
    },
    async link(a: { relayUrl: string; idToken: string; tunnel?: boolean }) {
      await env!.link(a.relayUrl, a.idToken, a.tunnel ? {} : { directEndpoint: env!.publicUrl });
    },
    tunnelState: () => env!.tunnel?.status().state ?? 'none',
    async startPeer(a: { signingJwk: JWK; clientAssertionPublicJwk: JWK }) {
      peer = await startOidcPeer(a);
      return { issuer: peer.issuer, tokenUrl: peer.tokenUrl, port: peer.port, basicSecret: peer.basicSecret };
    },
    peerReplayEntries: () => peer!.replayEntries(),
    cryptoFloor: (a: { count: number }) => measureCryptoFloor(a.count),
    accountMode: () => void setSecurityMode(env!.deps, 'account', 'api'),
    async startLb() {
      lb = await startLoadBalancer({ log: false });
      return { url: lb.url };
    },
    setBackend: (a: { name: Backend; port: number }) => lb!.setBackend(a.name, a.port),
    removeBackend: (a: { name: Backend }) => lb!.removeBackend(a.name),
    route: (a: { mode: Backend | 'round-robin' }) => lb!.route(a.mode),
    counts: () => ({ ...lb!.counts }),
    cpu: () => process.cpuUsage(),
    threads: () => threadCpu(),
    // GATEHOUSE_BENCH_SLICE_PROFILE=DIR: the relay CPU scenario profiles just its timed slices.
    profileStart: async () => {
      stopProfile = await startSliceProfile();
    },
    profileStop: async (a: { name: string }) => {
      await stopProfile?.(a.name);
      stopProfile = null;
    },
  };
  const close = async () => {
    await env?.close().catch(() => undefined);
    await relay?.close().catch(() => undefined);
    await lb?.close().catch(() => undefined);
    await peer?.close().catch(() => undefined);
  };
  process.on('message', (message: { id: number; cmd: string; args?: unknown }) => {
    void (async () => {
      try {
        const handler = handlers[message.cmd];
        if (!handler) throw new Error(`unknown command ${message.cmd}`);
        process.send?.({ id: message.id, ok: true, result: await handler(message.args) });
      } catch (error) {
        process.send?.({ id: message.id, ok: false, error: (error as Error).stack ?? String(error) });
      }
    })();
  });
  process.once('disconnect', () => void close().finally(() => process.exit(0)));
  process.send?.({ event: 'ready' });
}

export interface Child {
  name: string;
  /** kill -9: no cleanup, no goodbye (R4). */
  kill(): Promise<void>;
  call<T = unknown>(cmd: string, args?: unknown): Promise<T>;
  close(): Promise<void>;
}

export async function startChild(role: Role, name: string): Promise<Child> {
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof') && !a.startsWith('--heap-prof') && !a.startsWith('--inspect'));
  // GATEHOUSE_BENCH_PROFILE=relay,/tmp/prof: that role's children write a --cpu-prof profile there.
  const [profileRole, profileDir] = (process.env.GATEHOUSE_BENCH_PROFILE ?? '').split(',');
  if (profileRole === role && profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  // GATEHOUSE_BENCH_CHILD_FLAGS=relay,--trace-gc,…: extra Node flags for that role's children.
  const [flagsRole, ...flags] = (process.env.GATEHOUSE_BENCH_CHILD_FLAGS ?? '').split(',');
  if (flagsRole === role) execArgv.push(...flags);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv,
    env: { ...process.env, [ROLE_ENV]: role },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  let exited = false;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 90 s`)), 90_000);
    child.on('message', (m: { event?: string; id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (m.event === 'ready') {
        clearTimeout(timer);
        resolve();
        return;
      }
      const call = pending.get(m.id ?? -1);
      if (!call) return;
      pending.delete(m.id!);
      clearTimeout(call.timer);
      if (m.ok) call.resolve(m.result);
      else call.reject(new Error(`${name}: ${m.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready`));
    });
  });
  child.on('exit', (code) => {
    exited = true;
    for (const call of pending.values()) {
      clearTimeout(call.timer);
      call.reject(new Error(`${name} exited (${code})`));
    }
    pending.clear();
  });
  await ready;
  return {
    name,
    call(cmd, args) {
      if (exited) return Promise.reject(new Error(`${name} is not running`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: ${cmd} timed out`));
        }, CHILD_CALL_TIMEOUT_MS);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        child.send({ id, cmd, args });
      });
    },
    async kill() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await gone;
    },
    async close() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The load: IN_FLIGHT lanes, each one client key with its own access token, a closed loop of connects.

interface Lane {
  signer: DpopSigner;
  token: string;
  body: string;
}

/** Pre-made: one client key and relay access token per lane (token exchange is not measured). */
function makeLanes(lbUrl: string, environmentId: string, idToken: () => Promise<string>): Promise<Lane[]> {
  return Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      const signer = await createDpopSigner(await generateDpopKeyPair(false));
      const { token } = await getRelayAccessToken({ relayUrl: lbUrl, signer, getIdToken: idToken });
      return { signer, token, body: JSON.stringify({ environmentId, clientProofKeyThumbprint: signer.thumbprint }) };
    }),
  );
}

interface Tally {
  ok: number;
  bad: number;
  ms: number;
  cpuMs: Record<string, number>;
  busyMs: number;
  samples: string[];
}
const tally = (): Tally => ({ ok: 0, bad: 0, ms: 0, cpuMs: {}, busyMs: 0, samples: [] });

function connectOnce(agent: Agent, lbUrl: URL, lane: Lane, proof: string): Promise<{ ok: boolean; sample: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: lbUrl.hostname,
        port: Number(lbUrl.port),
        path: CONNECT_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(lane.body), authorization: `DPoP ${lane.token}`, dpop: proof },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const ok = res.statusCode === 200 && text.includes('"status":"authorized"') && text.includes('"credential"');
          resolve({ ok, sample: ok ? '' : `HTTP ${res.statusCode} ${text.slice(0, 200)}` });
        });
        res.on('error', (e) => resolve({ ok: false, sample: e.message }));
      },
    );
    req.on('error', (e) => resolve({ ok: false, sample: e.message }));
    req.end(lane.body);
  });
}

/** `perLane` connects on every lane at once, stopping early after `maxMs`; returns elapsed ms. */
async function runLanes(agent: Agent, lbUrl: URL, lanes: Lane[], perLane: number, maxMs: number, into: Tally | null): Promise<number> {
  const htu = new URL(CONNECT_PATH, lbUrl).href;
  // Fresh proofs, made before the clock starts: the load client's signing is not what is measured.
  const proofs = await Promise.all(lanes.map((lane) => Promise.all(Array.from({ length: perLane }, () => createDpopProof(lane.signer, { htm: 'POST', htu, accessToken: lane.token })))));
  const started = performance.now();
  const deadline = started + maxMs;
  await Promise.all(
    lanes.map(async (lane, i) => {
      for (const proof of proofs[i]!) {
        if (performance.now() > deadline) break;
        const { ok, sample } = await connectOnce(agent, lbUrl, lane, proof);
        if (!into) continue;
        if (ok) into.ok++;
        else {
          into.bad++;
          if (into.samples.length < 3) into.samples.push(sample);
        }
      }
    }),
  );
  return performance.now() - started;
}

const machineTimes = () => cpus().reduce((t, c) => ({ busy: t.busy + c.times.user + c.times.nice + c.times.sys + c.times.irq, idle: t.idle + c.times.idle }), { busy: 0, idle: 0 });

// ---------------------------------------------------------------------------------------------

export async function benchRelayPg(opts: { smoke: boolean; databaseUrl?: string }): Promise<Record<string, RelayPgEntry>> {
  const log = (m: string) => console.log(`  [relay-pg] ${m}`);
  const t0 = performance.now();
  // Bounded in count and time: each round is R1, R2, R2, R1; a slice is perLane connects on each
  // lane or sliceMaxMs, whichever ends first (DPoP proofs are made just before it and live 60 s).
  // Rounds after the first only start while the whole run (set-up included) stays inside budgetMs.
  const rounds = opts.smoke ? 1 : 3;
  const perLane = opts.smoke ? 8 : 20;
  const sliceMaxMs = opts.smoke ? 8_000 : 12_000;
  const warmPerLane = 2;
  const budgetMs = opts.smoke ? 45_000 : 150_000;

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-relay-pg-'));
  const children: Child[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT, maxFreeSockets: IN_FLIGHT });
  let cluster: ThrowawayPostgres | null = null;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  try {
    let base = opts.databaseUrl || process.env[TEST_DATABASE_ENV] || '';
    if (!base) {
      log(`no ${TEST_DATABASE_ENV}: starting a throwaway PostgreSQL (.ci/postgres.sh start)`);
      cluster = await startThrowawayPostgres({ firstPort: PG_FIRST_PORT });
      base = cluster.url;
    }
    // The children load in parallel (tsx + the server modules take a while each).
    const forked = await Promise.allSettled([startChild('lb', 'balancer'), startChild('relay', 'relay A'), startChild('relay', 'relay B'), startChild('env', 'environment')]);
    for (const f of forked) if (f.status === 'fulfilled') children.push(f.value);
    for (const f of forked) if (f.status === 'rejected') throw f.reason;
    const [lb, relayA, relayB, env] = children as [Child, Child, Child, Child];
    database = await createTestDatabase('bench_relay_pg', base);
    const { url: lbUrl } = await lb.call<{ url: string }>('startLb');

    const relayConfig = { publicUrl: lbUrl, databaseUrl: database.url, poolMax: POOL_MAX };
    const { port: portA } = await relayA.call<{ port: number }>('startRelay', { ...relayConfig, dataDir: join(dir, 'relay-a') });
    // Instances behind one URL share its signing key (and, in dev, the dev issuer's key).
    mkdirSync(join(dir, 'relay-b'), { recursive: true, mode: 0o700 });
    for (const file of ['relay-key.json', 'dev-issuer-key.json']) copyFileSync(join(dir, 'relay-a', file), join(dir, 'relay-b', file));
    const { port: portB } = await relayB.call<{ port: number }>('startRelay', { ...relayConfig, dataDir: join(dir, 'relay-b') });
    await lb.call('setBackend', { name: 'a', port: portA });
    await lb.call('setBackend', { name: 'b', port: portB });

    const { environmentId } = await env.call<{ environmentId: string }>('startEnv', { dataDir: join(dir, 'env'), connectOrigins: [lbUrl] });
    await lb.call('route', { mode: 'a' });
    const idToken = () => relayA.call<string>('idToken', { account: 'owner' });
    await env.call('link', { relayUrl: lbUrl, idToken: await idToken() });
    await env.call('accountMode');

    const lanes = await makeLanes(lbUrl, environmentId, idToken);
    const url = new URL(lbUrl);
    log(`set up in ${((performance.now() - t0) / 1000).toFixed(1)} s (PostgreSQL, balancer, relays A and B, environment, ${IN_FLIGHT} access tokens)`);

    // Both instances answer, and connect for real, before anything is timed.
    for (const mode of ['a', 'b'] as const) {
      await lb.call('route', { mode });
      const check = tally();
      await runLanes(agent, url, lanes.slice(0, 2), 1, 10_000, check);
      if (check.ok !== 2) throw new Error(`relay ${mode.toUpperCase()} did not connect: ${check.samples.join(' | ')}`);
    }

    const items = { R1: { mode: 'a' as const, t: tally() }, R2: { mode: 'round-robin' as const, t: tally() } };
    const procs = { client: null, balancer: lb, relayA, relayB, env } as const;
    const cpuNow = async () => {
      const out: Record<string, number> = {};
      for (const [name, child] of Object.entries(procs)) {
        const u = child ? await child.call<NodeJS.CpuUsage>('cpu') : process.cpuUsage();
        out[name] = (u.user + u.system) / 1000;
      }
      return out;
    };
    // Both instances get the same JIT warm-up before anything is timed.
    await lb.call('route', { mode: 'round-robin' });
    await runLanes(agent, url, lanes, opts.smoke ? 4 : 8, sliceMaxMs, null);

    const countsBefore = await lb.call<Record<Backend, number>>('counts');
    let r2Hits: Record<Backend, number> = { a: 0, b: 0, c: 0 };
    const started = performance.now();
    let roundsRun = 0;
    for (let round = 0; round < rounds; round++) {
      const roundStarted = performance.now();
      const order: Array<keyof typeof items> = ['R1', 'R2', 'R2', 'R1'];
      for (const id of order) {
        const { mode, t } = items[id];
        await lb.call('route', { mode });
        await runLanes(agent, url, lanes, warmPerLane, 4_000, null);
        const before = await lb.call<Record<Backend, number>>('counts');
        const cpu0 = await cpuNow();
        const m0 = machineTimes();
        const ms = await runLanes(agent, url, lanes, perLane, sliceMaxMs, t);
        const m1 = machineTimes();
        const cpu1 = await cpuNow();
        const after = await lb.call<Record<Backend, number>>('counts');
        t.ms += ms;
        t.busyMs += m1.busy - m0.busy;
        for (const name of Object.keys(cpu1)) t.cpuMs[name] = (t.cpuMs[name] ?? 0) + cpu1[name]! - cpu0[name]!;
        if (id === 'R2') r2Hits = { a: r2Hits.a + after.a - before.a, b: r2Hits.b + after.b - before.b, c: 0 };
      }
      const rate = (t: Tally) => ((t.ok / t.ms) * 1000).toFixed(0);
      log(`round ${round + 1}/${rounds}: R1 ${rate(items.R1.t)}  R2 ${rate(items.R2.t)} connects/s (cumulative)`);
      roundsRun++;
      const roundMs = performance.now() - roundStarted;
      if (round + 1 < rounds && performance.now() - t0 + roundMs > budgetMs) {
        log(`stopping after ${roundsRun} of ${rounds} rounds: another would overrun the ${budgetMs / 1000} s budget`);
        break;
      }
    }
    const benchMs = performance.now() - started;

    // Every timed connect left one DPoP replay marker in the shared database.
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    let markers = 0;
    try {
      markers = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM replay_markers WHERE kind = 'dpop'`)).rows[0]?.n ?? 0);
    } finally {
      await client.end();
    }
    const counts = await lb.call<Record<Backend, number>>('counts');
    const connectsSent = counts.a + counts.b - countsBefore.a - countsBefore.b;

    const rps = (t: Tally) => (t.ok / t.ms) * 1000;
    const R1 = rps(items.R1.t);
    const R2 = rps(items.R2.t);
    const cores = cpus().length;
    const describe = (t: Tally) => {
      const per = (name: string) => ((t.cpuMs[name] ?? 0) / Math.max(1, t.ok)).toFixed(2);
      const busy = Math.min(100, (t.busyMs / (t.ms * cores)) * 100);
      const ours = (Object.values(t.cpuMs).reduce((a, b) => a + b, 0) / (t.ms * cores)) * 100;
      return (
        `${t.ok} connects in ${(t.ms / 1000).toFixed(1)} s, ${t.bad} failed${t.samples.length ? ` (e.g. ${t.samples[0]})` : ''}; ` +
        `CPU ms per connect: relay A ${per('relayA')}, relay B ${per('relayB')}, env ${per('env')}, balancer ${per('balancer')}, client ${per('client')}; ` +
        `these processes used ${ours.toFixed(0)}% of ${cores} cores (PostgreSQL not counted), the whole machine was ${busy.toFixed(0)}% busy`
      );
    };
    const setup = `${roundsRun} round(s) of interleaved slices, ${IN_FLIGHT} in flight, pre-made access tokens + fresh DPoP proofs, account mode, env mint included, pool ${POOL_MAX}/instance, via a 127.0.0.1 balancer`;
    const allOk = items.R1.t.bad === 0 && items.R2.t.bad === 0 && markers >= items.R1.t.ok + items.R2.t.ok;
    log(`${connectsSent} connects sent in ${(benchMs / 1000).toFixed(1)} s; ${markers} DPoP markers in PostgreSQL; R2 split A ${r2Hits.a} / B ${r2Hits.b}`);
    return {
      R1: {
        value: R1,
        unit: 'connects/s',
        note: `one relay instance on PostgreSQL; ${setup}; ${describe(items.R1.t)}`,
        ...(!allOk && { pass: false }),
      },
      R2: {
        value: R2,
        unit: 'connects/s',
        ratio: R2 / R1,
        against: 'R1',
        note:
          `two relay instances on one PostgreSQL, round robin (A ${r2Hits.a} / B ${r2Hits.b}); ${setup}; ${describe(items.R2.t)}. ` +
          `Report only, no target: on ${cores} core(s) both instances, the environment, PostgreSQL, the balancer and the load client share the same CPUs, so a second instance adds no compute; ` +
          `the ratio shows what a second instance on the same CPUs and one shared database cost or gain, not how far instances scale on separate machines.`,
        ...(!allOk && { pass: false }),
      },
    };
  } finally {
    agent.destroy();
    for (const child of children.reverse()) await child.close().catch(() => undefined);
    await database?.drop().catch((e: unknown) => log(`could not drop ${database?.name}: ${(e as Error).message}`));
    rmSync(dir, { recursive: true, force: true });
    if (cluster) await cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// R3, R4, R5 (issue 15): three relay instances on one PostgreSQL behind the balancer, the
// environment tunnelled to one of them (SPEC §12).

export async function benchRelayScale(opts: { smoke: boolean; databaseUrl?: string }): Promise<Record<string, RelayPgEntry>> {
  const log = (m: string) => console.log(`  [relay-scale] ${m}`);
  const kills = opts.smoke ? 3 : 10;
  const rounds = opts.smoke ? 1 : 3;
  const perLane = opts.smoke ? 6 : 20;
  const sliceMaxMs = opts.smoke ? 8_000 : 12_000;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-relay-scale-'));
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT, maxFreeSockets: IN_FLIGHT });
  const relays: Partial<Record<Backend, Child>> = {};
  const others: Child[] = [];
  let cluster: ThrowawayPostgres | null = null;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  try {
    let base = opts.databaseUrl || process.env[TEST_DATABASE_ENV] || '';
    if (!base) {
      cluster = await startThrowawayPostgres({ firstPort: PG_FIRST_PORT + 7 });
      base = cluster.url;
    }
    database = await createTestDatabase('bench_relay_scale', base);
    const secretFile = join(dir, 'internal-secret');
    writeFileSync(secretFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    const [lb, env] = await Promise.all([startChild('lb', 'balancer'), startChild('env', 'environment')]);
    others.push(lb, env);
    const { url: lbUrl } = await lb.call<{ url: string }>('startLb');
    const names: Backend[] = ['a', 'b', 'c'];
    const startInstance = async (n: Backend) => {
      const child = await startChild('relay', `relay ${n.toUpperCase()}`);
      relays[n] = child;
      const { port } = await child.call<{ port: number }>('startRelay', { dataDir: join(dir, `relay-${n}`), publicUrl: lbUrl, databaseUrl: database!.url, poolMax: POOL_MAX, internalUrl: 'http://127.0.0.1:0', internalSecretFile: secretFile });
      await lb.call('setBackend', { name: n, port });
    };
    await startInstance('a');
    for (const n of ['b', 'c'] as const) {
      mkdirSync(join(dir, `relay-${n}`), { recursive: true, mode: 0o700 });
      for (const file of ['relay-key.json', 'dev-issuer-key.json']) copyFileSync(join(dir, 'relay-a', file), join(dir, `relay-${n}`, file));
    }
    await Promise.all((['b', 'c'] as const).map(startInstance));
    await lb.call('route', { mode: 'a' });
    const { environmentId } = await env.call<{ environmentId: string }>('startEnv', { dataDir: join(dir, 'env'), connectOrigins: [lbUrl], tunnel: { backoffBaseMs: 500, backoffMaxMs: 5_000 } });
    const idToken = () => relays.a!.call<string>('idToken', { account: 'owner' });
    await env.call('link', { relayUrl: lbUrl, idToken: await idToken(), tunnel: true });
    await env.call('accountMode');
    const holder = async (): Promise<Backend | null> => {
      for (const n of names) if (relays[n] && (await relays[n]!.call<boolean>('holdsTunnel', { environmentId }).catch(() => false))) return n;
      return null;
    };
    const waitHeld = async (timeoutMs: number): Promise<Backend> => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const h = (await env.call<string>('tunnelState')) === 'connected' ? await holder() : null;
        if (h) return h;
        if (performance.now() > deadline) throw new Error(`the environment did not tunnel again within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const held = await waitHeld(30_000);
    // Every other instance must see where the tunnel is before R3 is timed.
    for (const n of names.filter((x) => x !== held)) {
      const deadline = performance.now() + 15_000;
      while (!(await relays[n]!.call<string | null>('seesTunnelAt', { environmentId }))) {
        if (performance.now() > deadline) throw new Error(`relay ${n} never saw the tunnel at ${held}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await lb.call('route', { mode: 'round-robin' });
    const lanes = await makeLanes(lbUrl, environmentId, idToken);
    const url = new URL(lbUrl);
    const away = names.find((n) => n !== held)!;
    const sides = { holder: { mode: held, t: tally() }, away: { mode: away, t: tally() } };
    const relayCpu = async () => {
      let total = 0;
      for (const n of names) {
        const u = await relays[n]!.call<NodeJS.CpuUsage>('cpu');
        total += (u.user + u.system) / 1000;
      }
      return total;
    };
    for (const side of Object.values(sides)) {
      await lb.call('route', { mode: side.mode });
      await runLanes(agent, url, lanes, 2, 10_000, null);
    }
    for (let round = 0; round < rounds; round++) {
      for (const key of round % 2 ? (['away', 'holder'] as const) : (['holder', 'away'] as const)) {
        const { mode, t } = sides[key];
        await lb.call('route', { mode });
        const c0 = await relayCpu();
        t.ms += await runLanes(agent, url, lanes, perLane, sliceMaxMs, t);
        t.cpuMs.relays = (t.cpuMs.relays ?? 0) + (await relayCpu()) - c0;
      }
    }
    const rps = (t: Tally) => (t.ok / t.ms) * 1000;
    const R3 = rps(sides.away.t) / rps(sides.holder.t);
    log(`R3: via holder ${rps(sides.holder.t).toFixed(0)}, via another instance ${rps(sides.away.t).toFixed(0)} connects/s (×${R3.toFixed(2)})`);

    // R4: kill -9 the holder; the balancer drops it (as its health check would); time until the
    // environment holds a tunnel at another instance. The killed one comes back for the next kill.
    await lb.call('route', { mode: 'round-robin' });
    const failovers: number[] = [];
    for (let k = 0; k < kills; k++) {
      const victim = await waitHeld(30_000);
      const killedAt = performance.now();
      await relays[victim]!.kill();
      relays[victim] = undefined;
      await lb.call('removeBackend', { name: victim });
      const next = await waitHeld(60_000);
      failovers.push(performance.now() - killedAt);
      log(`R4 kill ${k + 1}/${kills}: ${victim.toUpperCase()} → ${next.toUpperCase()} in ${failovers.at(-1)!.toFixed(0)} ms`);
      await startInstance(victim);
    }
    const sorted = [...failovers].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
    const allConnects = sides.holder.t.ok + sides.away.t.ok;
    const relayCpuS = ((sides.holder.t.cpuMs.relays ?? 0) + (sides.away.t.cpuMs.relays ?? 0)) / 1000;
    const perCore = allConnects / relayCpuS;
    const bad = sides.holder.t.bad + sides.away.t.bad;
    const samples = [...sides.holder.t.samples, ...sides.away.t.samples].slice(0, 2).join(' | ');
    return {
      R3: {
        value: rps(sides.away.t),
        unit: 'connects/s',
        ratio: R3,
        against: 'via the holding instance',
        target: 0.8,
        pass: R3 >= 0.8 && bad === 0,
        note: `${IN_FLIGHT} in flight, pre-made access tokens, fresh proofs, account mode, tunnelled env, 3 instances on one PostgreSQL; via holder ${rps(sides.holder.t).toFixed(0)} connects/s; ${bad} failed${samples ? ` (${samples})` : ''}`,
      },
      R4: {
        value: p95,
        unit: 'ms (p95)',
        note: `kill -9 of the holder → env tunnelled at another instance, ${kills} kills, the balancer drops the dead instance at once; agent backoff 0.5 s doubling to 5 s with jitter; all ms: ${failovers.map((v) => v.toFixed(0)).join(', ')}`,
      },
      R5: {
        value: perCore,
        unit: 'connects/s per relay core',
        note: `connects ÷ relay CPU seconds (all three instances, R3's slices): ${allConnects} connects, ${relayCpuS.toFixed(1)} CPU s; environment, PostgreSQL, balancer and load not counted`,
      },
    };
  } finally {
    agent.destroy();
    for (const child of [...Object.values(relays), ...others.reverse()]) await child?.close().catch(() => undefined);
    await database?.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (cluster) await cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------

function printTable(results: Record<string, RelayPgEntry>): void {
  const rows = Object.entries(results).map(([id, r]) => [
    id,
    r.value.toFixed(1),
    r.unit,
    r.ratio === undefined ? '' : r.ratio.toFixed(3),
    r.against ?? '',
    r.target === undefined ? '' : String(r.target),
    r.pass === undefined ? '' : String(r.pass),
  ]);
  const head = ['ID', 'value', 'unit', 'ratio', 'against', 'target', 'pass'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  for (const [id, r] of Object.entries(results)) if (r.note) console.log(`${id}: ${r.note}`);
}

const role = process.env[ROLE_ENV] as Role | undefined;
const isMain = (() => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (role) {
  void serveChild(role);
} else if (isMain) {
  const smoke = process.argv.includes('--smoke');
  (process.argv.includes('--scale') ? benchRelayScale({ smoke }) : benchRelayPg({ smoke })).then(
    (results) => {
      printTable(results);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

// O1 and F1 (issue 20 items 3 and 4), each relay side in its own process (bench/relay-pg.ts children).
//
// O1: the relay's token exchange (POST /oauth/token: ID token + DPoP → DPoP-bound EdDSA access
// token) against node-oidc-provider 8.8.1's token endpoint doing the closest equivalent
// (client_credentials, DPoP-bound EdDSA JWT access tokens; private_key_jwt with an EdDSA client
// assertion, the same signature work as the relay, and client_secret_basic, less), from the same
// load generator (the bench worker, pre-built requests, 64 in flight), interleaved slices. Every
// request carries a proof from a key never seen before (a new client each time). The peer keeps
// every replay entry until it expires (bench/lib/oidc-peer.ts), as the relay does.
//
// F1: the relay's CPU per full connect (token exchange + connect + mint through the tunnel to a
// tunnelled environment in its own process + verify), against its crypto floor measured alone in
// the same relay process in the same run (bench/lib/crypto-floor.ts). Ratio = floor / actual.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createDpopProof, createDpopSigner, generateDpopKeyPair } from '../../shared/dpop';
import { startChild, type Child } from '../relay-pg';
import type { BenchContext, RunMetrics } from '../lib/context';
import { PEER_BASIC_CLIENT, PEER_JWT_CLIENT, PEER_SCOPE } from '../lib/oidc-peer';
import { SLICE_PROFILE_DIR } from '../lib/slice-profile';
import { percentile } from '../lib/stats';

export const O1_IN_FLIGHT = 64;
export const F1_IN_FLIGHT = 16;
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

function rawForm(host: string, port: number, path: string, headers: Record<string, string>, form: Record<string, string>): string {
  const body = new URLSearchParams(form).toString();
  const lines = Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`).join('');
  return `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${lines}Connection: keep-alive\r\n\r\n${body}`;
}

const newSigner = async () => createDpopSigner(await generateDpopKeyPair(false));

interface Side {
  name: 'relay' | 'basic' | 'pkjwt';
  make(count: number): Promise<string[]>;
  port: number;
  child: Child;
}

interface Tally {
  sent: number;
  ms: number;
  bad: number;
  cpuMs: number;
  latencies: number[];
  samples: string[];
}
const tally = (): Tally => ({ sent: 0, ms: 0, bad: 0, cpuMs: 0, latencies: [], samples: [] });
const cpuMs = async (child: Child) => {
  const u = await child.call<NodeJS.CpuUsage>('cpu');
  return (u.user + u.system) / 1000;
};

async function setUp(dir: string) {
  const [relay, peer, env] = await Promise.all([startChild('relay', 'relay'), startChild('peer', 'oidc-provider'), startChild('env', 'environment')]);
  const { port: relayPort, publicUrl: relayUrl } = await relay.call<{ port: number; publicUrl: string }>('startRelay', { dataDir: join(dir, 'relay') });
  const signing = await generateKeyPair('EdDSA', { extractable: true });
  const assertionKey = await generateKeyPair('EdDSA', { extractable: true });
  const p = await peer.call<{ issuer: string; tokenUrl: string; port: number; basicSecret: string }>('startPeer', {
    signingJwk: await exportJWK(signing.privateKey),
    clientAssertionPublicJwk: await exportJWK(assertionKey.publicKey),
  });
  return { relay, peer, env, relayPort, relayUrl, p, assertionKey };
}

/** O1 and F1, one run. */
export async function relayCpuRun(ctx: BenchContext): Promise<RunMetrics> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-relay-cpu-'));
  const children: Child[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: F1_IN_FLIGHT });
  try {
    const { relay, peer, env, relayPort, relayUrl, p, assertionKey } = await setUp(dir);
    children.push(relay, peer, env);
    const idTokens = await Promise.all(Array.from({ length: 8 }, () => relay.call<string>('idToken', { account: 'owner' })));
    const relayTokenUrl = `${relayUrl}/oauth/token`;

    // ---- O1 sides: pre-built requests, each with a new client key's proof ----
    const basicAuth = `Basic ${Buffer.from(`${PEER_BASIC_CLIENT}:${p.basicSecret}`).toString('base64')}`;
    const proofs = async (count: number, htu: string) =>
      Promise.all(Array.from({ length: count }, async () => createDpopProof(await newSigner(), { htm: 'POST', htu })));
    const sides: Side[] = [
      {
        name: 'relay',
        port: relayPort,
        child: relay,
        make: async (n) =>
          (await proofs(n, relayTokenUrl)).map((dpop, i) =>
            rawForm('127.0.0.1', relayPort, '/oauth/token', { dpop }, { grant_type: TOKEN_EXCHANGE, subject_token: idTokens[i % idTokens.length]!, subject_token_type: ID_TOKEN_TYPE }),
          ),
      },
      {
        name: 'basic',
        port: p.port,
        child: peer,
        make: async (n) => (await proofs(n, p.tokenUrl)).map((dpop) => rawForm('127.0.0.1', p.port, '/token', { dpop, authorization: basicAuth }, { grant_type: 'client_credentials', scope: PEER_SCOPE })),
      },
      {
        name: 'pkjwt',
        port: p.port,
        child: peer,
        make: async (n) => {
          const now = Math.floor(Date.now() / 1000);
          const ps = await proofs(n, p.tokenUrl);
          return Promise.all(
            ps.map(async (dpop) => {
              const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuer(PEER_JWT_CLIENT).setSubject(PEER_JWT_CLIENT).setAudience(p.issuer).setJti(randomUUID()).setIssuedAt(now).setExpirationTime(now + 60).sign(assertionKey.privateKey);
              return rawForm('127.0.0.1', p.port, '/token', { dpop }, { grant_type: 'client_credentials', scope: PEER_SCOPE, client_id: PEER_JWT_CLIENT, client_assertion_type: JWT_BEARER, client_assertion: assertion });
            }),
          );
        },
      },
    ];
    const o1 = { relay: tally(), basic: tally(), pkjwt: tally() };
    const relayThreads: Record<string, number> = {};
    const slices = ctx.size(4, 1);
    const perSlice = ctx.size(1200, 300);
    for (let s = 0; s < slices; s++) {
      for (const side of s % 2 ? [...sides].reverse() : sides) {
        const t = o1[side.name];
        const warmup = await side.make(O1_IN_FLIGHT);
        const bodies = await side.make(perSlice);
        const c0 = await cpuMs(side.child);
        const th0 = side.name === 'relay' ? await relay.call<Record<string, number>>('threads') : {};
        if (SLICE_PROFILE_DIR && side.name === 'relay') await relay.call('profileStart');
        const result = await ctx.worker.call('load', {
          host: '127.0.0.1',
          port: side.port,
          path: '/',
          raw: true,
          warmup,
          bodies,
          concurrency: O1_IN_FLIGHT,
          maxDurationMs: 30_000,
          expectStatus: [200, 200],
          expectContains: '"access_token"',
          keepLatencies: true,
        });
        if (SLICE_PROFILE_DIR && side.name === 'relay') await relay.call('profileStop', { name: `relay-O1-${s}` });
        t.cpuMs += (await cpuMs(side.child)) - c0;
        if (side.name === 'relay') for (const [name, ms] of Object.entries(await relay.call<Record<string, number>>('threads'))) relayThreads[name] = (relayThreads[name] ?? 0) + ms - (th0[name] ?? 0);
        t.sent += result.sent;
        t.ms += result.ms;
        t.bad += result.errors + result.unexpected;
        t.latencies.push(...result.latencies);
        if (result.sample && t.samples.length < 2) t.samples.push(result.sample);
      }
    }
    const rps = (t: Tally) => (t.sent / t.ms) * 1000;
    for (const [name, t] of Object.entries(o1)) if (t.bad) ctx.log(`    ! O1 ${name}: ${t.bad} errors or unexpected answers, e.g. ${t.samples.join(' | ')}`);
    ctx.log(`    O1: relay ${rps(o1.relay).toFixed(0)}  oidc-provider basic ${rps(o1.basic).toFixed(0)}  private_key_jwt ${rps(o1.pkjwt).toFixed(0)} req/s; relay threads (µs/req): ${threadBreakdown(relayThreads, o1.relay.sent)}`);
    const replayHeld = await peer.call<number>('peerReplayEntries');

    // ---- F1: full connects through a tunnelled environment ----
    const { environmentId } = await env.call<{ environmentId: string }>('startEnv', { dataDir: join(dir, 'env'), connectOrigins: [relayUrl], tunnel: true });
    await env.call('link', { relayUrl, idToken: idTokens[0], tunnel: true });
    await env.call('accountMode');
    return { ...o1Metrics(o1, replayHeld), ...(await f1(ctx, relay, env, agent, relayUrl, environmentId, idTokens)) };
  } finally {
    agent.destroy();
    for (const child of children.reverse()) await child.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "main 3900, pool 1800, v8 300": CPU µs per request of each thread group (bench/relay-pg.ts threadCpu). */
function threadBreakdown(ms: Record<string, number>, requests: number): string {
  return Object.entries(ms)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, v]) => `${name} ${((v * 1000) / Math.max(1, requests)).toFixed(0)}`)
    .join(', ');
}

function o1Metrics(o1: Record<'relay' | 'basic' | 'pkjwt', Tally>, replayHeld: number): RunMetrics {
  const rps = (t: Tally) => (t.sent / t.ms) * 1000;
  const cpuUs = (t: Tally) => (t.cpuMs * 1000) / Math.max(1, t.sent);
  return {
    O1_relay: rps(o1.relay),
    O1_basic: rps(o1.basic),
    O1_pkjwt: rps(o1.pkjwt),
    O1_ratio_basic: rps(o1.relay) / rps(o1.basic),
    O1_ratio_pkjwt: rps(o1.relay) / rps(o1.pkjwt),
    O1_relay_p99: percentile(o1.relay.latencies, 99),
    O1_basic_p99: percentile(o1.basic.latencies, 99),
    O1_pkjwt_p99: percentile(o1.pkjwt.latencies, 99),
    O1_relay_cpu_us: cpuUs(o1.relay),
    O1_basic_cpu_us: cpuUs(o1.basic),
    O1_pkjwt_cpu_us: cpuUs(o1.pkjwt),
    O1_errors: o1.relay.bad + o1.basic.bad + o1.pkjwt.bad,
    O1_replay_held: replayHeld,
    O1_sent_peer: o1.basic.sent + o1.pkjwt.sent,
  };
}

function post(agent: Agent, url: URL, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = request({ agent, host: url.hostname, port: Number(url.port), path, method: 'POST', headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ status: 0, text: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, text: e.message }));
    req.end(body);
  });
}

/** One full connect from a new client key; true when the relay handed back a credential. */
async function fullConnect(agent: Agent, relayUrl: URL, environmentId: string, idToken: string, sample: (s: string) => void): Promise<boolean> {
  const signer = await newSigner();
  const tokenForm = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: idToken, subject_token_type: ID_TOKEN_TYPE }).toString();
  const tokenProof = await createDpopProof(signer, { htm: 'POST', htu: new URL('/oauth/token', relayUrl).href });
  const exchanged = await post(agent, relayUrl, '/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', dpop: tokenProof }, tokenForm);
  if (exchanged.status !== 200) {
    sample(`token ${exchanged.status} ${exchanged.text.slice(0, 200)}`);
    return false;
  }
  const accessToken = (JSON.parse(exchanged.text) as { access_token: string }).access_token;
  const connectPath = '/trpc/environments.connect';
  const proof = await createDpopProof(signer, { htm: 'POST', htu: new URL(connectPath, relayUrl).href, accessToken });
  const body = JSON.stringify({ environmentId, clientProofKeyThumbprint: signer.thumbprint });
  const connected = await post(agent, relayUrl, connectPath, { 'content-type': 'application/json', authorization: `DPoP ${accessToken}`, dpop: proof }, body);
  const ok = connected.status === 200 && connected.text.includes('"status":"authorized"') && connected.text.includes('"credential"');
  if (!ok) sample(`connect ${connected.status} ${connected.text.slice(0, 200)}`);
  return ok;
}

async function f1(ctx: BenchContext, relay: Child, env: Child, agent: Agent, relayUrlText: string, environmentId: string, idTokens: string[]): Promise<RunMetrics> {
  const relayUrl = new URL(relayUrlText);
  const deadline = performance.now() + 15_000;
  while ((await env.call<string>('tunnelState')) !== 'connected' || !(await relay.call<boolean>('holdsTunnel', { environmentId }))) {
    if (performance.now() > deadline) throw new Error('F1: the environment did not tunnel to the relay in 15 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const samples: string[] = [];
  const sample = (s: string) => void (samples.length < 3 && samples.push(s));
  const run = async (count: number) => {
    let next = 0;
    let ok = 0;
    await Promise.all(
      Array.from({ length: F1_IN_FLIGHT }, async () => {
        while (next < count) {
          const i = next++;
          if (await fullConnect(agent, relayUrl, environmentId, idTokens[i % idTokens.length]!, sample)) ok++;
        }
      }),
    );
    return ok;
  };
  await run(F1_IN_FLIGHT * 4); // warm-up
  const slices = ctx.size(4, 1);
  const perSlice = ctx.size(600, 200);
  let connects = 0;
  let relayMs = 0;
  let envMs = 0;
  let failed = 0;
  const floors: number[] = [];
  let floor: Record<string, number> = {};
  const threadMs: Record<string, number> = {};
  for (let s = 0; s < slices; s++) {
    const r0 = await cpuMs(relay);
    const e0 = await cpuMs(env);
    const t0 = await relay.call<Record<string, number>>('threads');
    if (SLICE_PROFILE_DIR) await relay.call('profileStart');
    const ok = await run(perSlice);
    if (SLICE_PROFILE_DIR) await relay.call('profileStop', { name: `relay-F1-${s}` });
    relayMs += (await cpuMs(relay)) - r0;
    envMs += (await cpuMs(env)) - e0;
    const t1 = await relay.call<Record<string, number>>('threads');
    for (const [name, ms] of Object.entries(t1)) threadMs[name] = (threadMs[name] ?? 0) + ms - (t0[name] ?? 0);
    connects += ok;
    failed += perSlice - ok;
    floor = await relay.call<Record<string, number>>('cryptoFloor', { count: ctx.size(600, 300) });
    floors.push(floor.floorUs!);
  }
  if (failed) ctx.log(`    ! F1: ${failed} full connects failed, e.g. ${samples.join(' | ')}`);
  const actual = (relayMs * 1000) / Math.max(1, connects);
  const floorUs = floors.reduce((a, b) => a + b, 0) / floors.length;
  const perThread = threadBreakdown(threadMs, connects);
  ctx.log(`    F1: relay ${actual.toFixed(0)} CPU µs per full connect, crypto floor ${floorUs.toFixed(0)} µs (ratio ${(floorUs / actual).toFixed(2)}); env ${((envMs * 1000) / Math.max(1, connects)).toFixed(0)} µs; relay threads (µs/connect): ${perThread}`);
  return {
    F1_relay_cpu_us: actual,
    F1_floor_us: floorUs,
    F1_ratio: floorUs / actual,
    F1_env_cpu_us: (envMs * 1000) / Math.max(1, connects),
    F1_connects: connects,
    F1_errors: failed,
    F1_import_us: floor.importP256!,
    F1_es256_us: floor.verifyEs256!,
    F1_eddsa_verify_us: floor.verifyEdDsa!,
    F1_eddsa_sign_us: floor.signEdDsa!,
  };
}

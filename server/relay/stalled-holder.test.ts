// Two relay instances on one PostgreSQL (issue 15): A — a real `gatehouse relay start` child — holds
// the environment's tunnel; B forwards to it over the internal hop. The forwarded-hop and internal-hop
// counters move with that traffic; and when A stops answering (SIGSTOP: its port still takes
// connections, nothing answers), a request through B is answered 504 within a bound, never left hanging.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectToEnvironment } from '../../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair } from '../../shared/dpop';
import { startEnvironment, type EnvRuntime } from '../env/env-app';
import { startCli, type CliProcess } from '../cli/commands/cli-testing';
import { pinnedFetch, startLoadBalancer, type LoadBalancer } from '../testing/load-balancer';
import { createTestDatabase, type TestDatabase } from '../testing/postgres';
import { PEER_ANSWER_GRACE_MS, PEER_PATH } from './peer-hop';
import { startRelay, type RelayRuntime } from './relay-app';

let database: TestDatabase;
let lb: LoadBalancer;
let dir: string;
let relayB: RelayRuntime;
let relayA: CliProcess;
let relayAPid: number;
let env: EnvRuntime;
const ANSWER_TIMEOUT_MS = 1_000;
const metric = async (name: string, labels: string): Promise<number> => {
  const text = await (await fetch(relayB.metricsUrl!)).text();
  return Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
};
const forwarded = (kind: string, outcome: string) => metric('gatehouse_relay_forwarded_hops_total', `kind="${kind}",outcome="${outcome}"`);
const viaB = pinnedFetch('b');

beforeAll(async () => {
  database = await createTestDatabase('stalled_holder');
  lb = await startLoadBalancer();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-stalled-holder-'));
  const secretFile = join(dir, 'internal-secret');
  writeFileSync(secretFile, `${'a-shared-secret-for-both-instances'.repeat(2)}\n`, { mode: 0o600 });
  relayB = await startRelay({
    dataDir: join(dir, 'b'),
    port: 0,
    devIssuer: true,
    publicUrl: lb.url,
    databaseUrl: database.url,
    internalUrl: 'http://127.0.0.1:0',
    internalSecretFile: secretFile,
    metricsListen: { host: '127.0.0.1', port: 0 },
    tunnel: { answerTimeoutMs: ANSWER_TIMEOUT_MS },
  });
  // A shares B's key (and dev issuer key), as the deployment guide says to copy them.
  mkdirSync(join(dir, 'a', 'relay'), { recursive: true, mode: 0o700 });
  for (const file of ['relay-key.json', 'dev-issuer-key.json']) copyFileSync(join(dir, 'b', file), join(dir, 'a', 'relay', file));
  relayA = startCli(
    ['relay', 'start', '--json', '--data-dir', join(dir, 'a'), '--port', '0', '--public-url', lb.url, '--dev-issuer', '--internal-url', 'http://127.0.0.1:0', '--internal-secret-file', secretFile],
    { GATEHOUSE_RELAY_DATABASE_URL: database.url },
  );
  const ready = JSON.parse(await relayA.waitForLine(() => true)) as { listenUrl: string; internalUrl: string; relayUrl: string };
  expect(ready.relayUrl).toBe(lb.url);
  relayAPid = relayA.pid;
  lb.setBackend('a', Number(new URL(ready.listenUrl).port));
  lb.setBackend('b', (relayB.server.address() as AddressInfo).port);

  lb.route('a'); // the link and the tunnel land on A
  env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, connectOrigins: [lb.url], tunnel: { backoffBaseMs: 100, backoffMaxMs: 1_000 } });
  await env.link(lb.url, await relayB.devIssuer!.issueIdToken('owner'));
  await vi.waitFor(async () => expect((await relayB.deps.peers!.locate(env.environmentId))?.internalUrl).toBe(ready.internalUrl), { timeout: 20_000, interval: 50 });
  lb.route('b');
}, 90_000);

afterAll(async () => {
  if (relayAPid) process.kill(relayAPid, 'SIGCONT');
  await env?.close();
  await relayA?.interrupt();
  await relayB?.close();
  await lb?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a relay instance forwarding to the holder of a tunnel', { timeout: 60_000 }, () => {
  it('counts forwarded hops (routed and mint) and refused internal-hop requests', async () => {
    const [routedBefore, mintBefore] = await Promise.all([forwarded('routed', 'answered'), forwarded('mint', 'answered')]);
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const session = await connectToEnvironment({ relayUrl: lb.url, environmentId: env.environmentId, signer, getIdToken: () => relayB.devIssuer!.issueIdToken('owner'), fetch: viaB });
    expect((await viaB(`${session.endpoint}/healthz`)).status).toBe(200);
    expect(relayB.deps.tunnels.has(env.environmentId)).toBe(false); // B only forwarded
    expect(await forwarded('mint', 'answered')).toBe(mintBefore + 1);
    expect(await forwarded('routed', 'answered')).toBeGreaterThanOrEqual(routedBefore + 2); // the redeem and the health check

    const refused = await fetch(`${relayB.internalUrl}${PEER_PATH}/healthz`, { headers: { 'gatehouse-internal-environment': env.environmentId } });
    expect(refused.status).toBe(401);
    expect(await metric('gatehouse_relay_internal_hop_requests_total', 'outcome="refused"')).toBe(1);
  });

  it('a holder that stopped answering: the request through B gets 504 endpoint_timed_out, not a hang', async () => {
    expect(relayAPid).toBeGreaterThan(0);
    process.kill(relayAPid, 'SIGSTOP');
    try {
      const abandoned = new AbortController();
      // The test's own deadline, far past the bound (holder's 1 s + the hop's grace): a hang fails here.
      const deadline = setTimeout(() => abandoned.abort(), ANSWER_TIMEOUT_MS + PEER_ANSWER_GRACE_MS + 20_000);
      const res = await viaB(`${lb.url}/e/${env.environmentId}/healthz`, { signal: abandoned.signal });
      clearTimeout(deadline);
      expect(res.status).toBe(504);
      expect(await res.json()).toMatchObject({ reason: 'endpoint_timed_out', message: 'The environment did not answer in time.' });
      expect(await forwarded('routed', 'timed_out')).toBe(1);
    } finally {
      process.kill(relayAPid, 'SIGCONT');
    }
  });
});

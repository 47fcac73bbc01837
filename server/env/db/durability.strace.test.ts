// S64 durability, not just order: a real `gatehouse env start` runs under strace, which logs its WAL
// writes, its fsync/fdatasync calls and its socket writes in one sequence. Every acknowledged owner
// decision and every group-committed credential must reach its socket only after a WAL sync that
// completed after the commit that holds it. The same run with every sync skipped (`strace -e inject`)
// must be caught, so the check cannot pass with fsync off. Needs strace on PATH (.ci/run installs it).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock';
import { sha256Hex } from '../../common/secrets';
import { signMintRequest } from '../../mint/mint-protocol';
import { exited, killAll, startEnvChild } from '../../testing/env-child';
import { checkAnswersFollowSync, parseStrace, type Answer } from '../../testing/syscall-trace';
import { approveClient } from '../connect/client-decisions.service';
import { requestClient } from '../connect/client-requests.service';
import { setSecurityMode } from '../connect/security-mode.service';
import { adminTokenFile, envDatabaseFile, envKeyFile } from '../data-files';
import { loadOrCreateSigningKey } from '../../common/keys';
import { syncEnvironmentId } from '../environment.service';
import { AccessBus } from '../events/access-bus';
import { saveRelayLink } from '../link/link.service';
import { createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { openEnvDatabase } from './database';

const DECISIONS = 24;
const MINTS = 48;
const RELAY = 'http://relay.invalid';
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  killAll(children);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A data directory with pending clients to decide, approved clients to mint for, and a relay link. */
async function seed(relayKey: RelayTestKey): Promise<{ dataDir: string; environmentId: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-durable-'));
  dirs.push(dataDir);
  const db = openEnvDatabase(envDatabaseFile(dataDir));
  const deps = { db, bus: new AccessBus(), clock: systemClock };
  setSecurityMode(deps, 'client-approval', 'cli');
  for (let i = 0; i < DECISIONS + MINTS; i++) requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(i), accountId: 'owner' });
  for (let i = DECISIONS; i < DECISIONS + MINTS; i++) approveClient(deps, fakeThumbprint(i), 'cli');
  // The id comes from the environment's key, as on a real start; the link is saved after it.
  const { environmentId } = await syncEnvironmentId(deps, (await loadOrCreateSigningKey(envKeyFile(dataDir))).publicJwk);
  saveRelayLink(deps, { relayUrl: RELAY, relayIssuer: RELAY, relayPublicKey: relayKey.publicJwk, accountId: 'owner', routedEndpoint: null, deviceOrigin: null });
  db.$client.close();
  return { dataDir, environmentId };
}

/** One POST on its own connection; resolves with the caller's port and the answer. */
function post(url: string, headers: Record<string, string>, body: string): Promise<{ port: number; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let port = 0;
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => void (text += chunk));
      res.on('end', () => resolve({ port, status: res.statusCode ?? 0, body: text }));
    });
    req.on('socket', (socket) => socket.on('connect', () => void (port = socket.localPort ?? 0)));
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

/** Runs decisions (6 at a time) then mints (all at once, so they share group commits) against a traced env. */
async function tracedRun(inject: boolean) {
  const relayKey = await createRelayTestKey();
  const { dataDir, environmentId } = await seed(relayKey);
  const log = join(dataDir, 'strace.log');
  const strace = ['strace', '-f', '-qq', '-yy', '-s', '65536', '-e', 'trace=pwrite64,pwritev,write,writev,sendmsg,sendto,fsync,fdatasync', ...(inject ? ['-e', 'inject=fsync,fdatasync:retval=0'] : []), '-o', log, '--'];
  const { child, url } = await startEnvChild(dataDir, children, strace);
  const token = readFileSync(adminTokenFile(dataDir), 'utf8').trim();
  const answers: Answer[] = [];
  const decisions = ['approve', 'reject', 'revoke'] as const;
  for (let batch = 0; batch < DECISIONS; batch += 6) {
    await Promise.all(
      Array.from({ length: 6 }, async (_, k) => {
        const thumbprint = fakeThumbprint(batch + k);
        const res = await post(`${url}/trpc/connect.clients.${decisions[(batch + k) % 3]}`, { authorization: `Bearer ${token}` }, JSON.stringify({ clientProofKeyThumbprint: thumbprint }));
        expect(res.status).toBe(200);
        answers.push({ clientPort: res.port, committed: thumbprint });
      }),
    );
  }
  const mints = await Promise.all(
    Array.from({ length: MINTS }, async (_, k) => {
      const { token: proof } = await signMintRequest(relayKey.privateKey, { relayIssuer: RELAY, environmentId, accountId: 'owner', clientProofKeyThumbprint: fakeThumbprint(DECISIONS + k), now: Date.now() });
      return proof;
    }),
  );
  await Promise.all(
    mints.map(async (proof) => {
      const res = await post(`${url}/api/connect/mint-credential`, {}, JSON.stringify({ proof }));
      expect(res.status).toBe(200);
      const credential = (JSON.parse(res.body) as { credential?: string }).credential;
      expect(credential).toMatch(/^[2-9A-HJ-NP-Z]{12}$/);
      answers.push({ clientPort: res.port, committed: sha256Hex(credential!) }); // stored hashed: the hash is what the WAL holds
    }),
  );
  // Stop the env itself (strace's tracee), so strace flushes its log and exits with it.
  const tracee = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  process.kill(tracee, 'SIGTERM');
  await exited(child);
  const calls = parseStrace(readFileSync(log, 'utf8'));
  return { orders: checkAnswersFollowSync(calls, `${envDatabaseFile(dataDir)}-wal`, answers), calls };
}

describe('S64 durability under strace', () => {
  it('S64 every acknowledged decision and every group-committed credential is sent only after the fsync of its commit', async () => {
    const { orders, calls } = await tracedRun(false);
    expect(orders).toHaveLength(DECISIONS + MINTS);
    expect(orders.filter((o) => o.violation !== null)).toEqual([]);
    // The mints really were group-committed: fewer WAL syncs stand behind them than there are mints.
    const mintSyncs = new Set(orders.slice(DECISIONS).map((o) => o.syncAt));
    expect(mintSyncs.size).toBeLessThan(MINTS);
    expect(calls.some((c) => c.name === 'fsync' || c.name === 'fdatasync')).toBe(true);
  }, 120_000);

  it('S64 the check is not vacuous: with every fsync skipped by strace, every answer is reported', async () => {
    const { orders } = await tracedRun(true);
    expect(orders).toHaveLength(DECISIONS + MINTS);
    expect(orders.every((o) => o.violation === 'the answer left before any WAL sync after its commit')).toBe(true);
  }, 120_000);
});

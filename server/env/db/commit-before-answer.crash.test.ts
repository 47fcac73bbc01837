// Answers follow COMMIT, under process death: a real `gatehouse env start` child gets a burst of
// owner decisions over HTTP and is killed with SIGKILL mid-burst. Every decision acknowledged to its
// caller must be in the database, which must pass PRAGMA integrity_check, and the environment must
// start and serve again. A SIGKILL keeps the page cache, so this would pass with fsync off: it proves
// that nothing is answered before its COMMIT, not that the COMMIT reached the disk. That (S64) is
// durability.strace.test.ts, which traces the fsyncs.
import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock';
import { requestClient } from '../connect/client-requests.service';
import { approveClient } from '../connect/client-decisions.service';
import { setSecurityMode } from '../connect/security-mode.service';
import { adminTokenFile, envDatabaseFile } from '../env-app';
import { AccessBus } from '../events/access-bus';
import { fakeThumbprint } from '../testing';
import { exited, killAll, startEnvChild } from '../../testing/env-child';
import { openEnvDatabase } from './database';

const CLIENTS = 90; // under the pending cap of 100, so seeding evicts nobody
const KILL_AFTER_ACKS = 30;
const CONCURRENCY = 6;

type Decision = 'approve' | 'reject' | 'revoke';
const decisionOf = (i: number): Decision => (['approve', 'reject', 'revoke'] as const)[i % 3]!;

let dataDir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-crash-'));
  // Seed pending clients straight into the database the child will open.
  const db = openEnvDatabase(envDatabaseFile(dataDir));
  const deps = { db, bus: new AccessBus(), clock: systemClock };
  setSecurityMode(deps, 'client-approval', 'cli');
  for (let i = 0; i < CLIENTS; i++) requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(i), accountId: 'owner' });
  db.$client.close();
});
afterAll(() => {
  killAll(children);
  rmSync(dataDir, { recursive: true, force: true });
});

const startChild = () => startEnvChild(dataDir, children);

async function decide(url: string, token: string, decision: Decision, thumbprint: string): Promise<number> {
  const res = await fetch(`${url}/trpc/connect.clients.${decision}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-gatehouse-actor': 'cli' },
    body: JSON.stringify({ clientProofKeyThumbprint: thumbprint }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('answers follow COMMIT (process crash)', () => {
  it('the environment database runs WAL with synchronous=FULL (what openEnvDatabase gives every environment)', () => {
    const db = openEnvDatabase(join(dataDir, 'pragma-check.sqlite'));
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.$client.pragma('synchronous', { simple: true })).toBe(2); // 2 = FULL
    db.$client.close();
  });

  it('SIGKILL mid-burst: every acknowledged decision was committed before its answer (it is in the database after the crash), integrity_check is ok, and it serves again', async () => {
    const { child, url } = await startChild();
    const token = readFileSync(adminTokenFile(dataDir), 'utf8').trim();
    const acked = new Map<string, Decision>();
    const failed: string[] = [];
    let next = 0;
    let killed = false;

    const sender = async () => {
      while (next < CLIENTS && !killed) {
        const i = next++;
        const thumbprint = fakeThumbprint(i);
        try {
          const status = await decide(url, token, decisionOf(i), thumbprint);
          if (status === 200) acked.set(thumbprint, decisionOf(i));
          else failed.push(`${thumbprint}: HTTP ${status}`);
        } catch {
          // In flight when the process died: not acknowledged, may or may not have committed.
        }
        if (acked.size >= KILL_AFTER_ACKS && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, sender));
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(failed).toEqual([]);
    expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(next).toBeLessThan(CLIENTS); // killed mid-burst, not after it

    // The file as the crash left it (WAL recovery runs on open).
    const sqlite = new Database(envDatabaseFile(dataDir));
    try {
      expect(sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(sqlite.pragma('foreign_key_check')).toEqual([]);
      const rowOf = sqlite.prepare('SELECT status, revoked_at FROM connect_clients WHERE client_proof_key_thumbprint = ?');
      const auditOf = sqlite.prepare("SELECT count(*) AS n FROM audit_log WHERE client_proof_key_thumbprint = ? AND action = ? AND actor = 'cli'");
      for (const [thumbprint, decision] of acked) {
        const row = rowOf.get(thumbprint) as { status: string; revoked_at: string | null };
        if (decision === 'revoke') expect(row.revoked_at, thumbprint).not.toBeNull();
        else expect(row, thumbprint).toMatchObject({ status: decision === 'approve' ? 'approved' : 'rejected', revoked_at: null });
        const action = { approve: 'client_approved', reject: 'client_rejected', revoke: 'client_revoked' }[decision];
        expect((auditOf.get(thumbprint, action) as { n: number }).n, `${thumbprint} ${action}`).toBe(1);
      }
    } finally {
      sqlite.close();
    }

    // It starts again on the same data and serves: health, the list, and a new decision.
    const again = await startChild();
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    const list = await fetch(`${again.url}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${token}` } });
    const clients = ((await list.json()) as { result: { data: { items: Array<{ clientProofKeyThumbprint: string; status: string }>; nextCursor: string | null } } }).result.data;
    expect(clients.nextCursor).toBeNull();
    for (const [thumbprint, decision] of acked) {
      const shown = clients.items.find((c) => c.clientProofKeyThumbprint === thumbprint);
      if (decision === 'revoke') expect(shown).toBeUndefined();
      else expect(shown?.status).toBe(decision === 'approve' ? 'approved' : 'rejected');
    }
    expect(await decide(again.url, token, 'approve', fakeThumbprint(CLIENTS - 1))).toBe(200);
    again.child.kill('SIGTERM');
    await exited(again.child);
  }, 60_000);

  it('a decision committed through the service is readable after the connection is dropped without closing', () => {
    // The in-process analogue: no close(), no checkpoint, a fresh connection sees the commit.
    const file = join(dataDir, 'no-close.sqlite');
    const db = openEnvDatabase(file);
    const deps = { db, bus: new AccessBus(), clock: systemClock };
    setSecurityMode(deps, 'client-approval', 'cli');
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(1), accountId: 'owner' });
    approveClient(deps, fakeThumbprint(1), 'cli');
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('SELECT status FROM connect_clients').get()).toEqual({ status: 'approved' });
    reader.close();
    db.$client.close();
  });
});

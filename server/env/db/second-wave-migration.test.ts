// The second-wave migration rebuilds connect_clients and audit_log: rows written before it survive intact.
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listClients } from '../connect/clients.service';
import { openEnvDatabase } from './database';

const migrations = fileURLToPath(new URL('../../../drizzle/env', import.meta.url));
const A = 'A'.repeat(43);
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-second-wave-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the second-wave foundation migration', () => {
  it('keeps every client row, audit entry and setting written at migration 0003', () => {
    const upTo = join(dir, 'upto-0003');
    mkdirSync(join(upTo, 'meta'), { recursive: true });
    const journal = JSON.parse(readFileSync(join(migrations, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ idx: number; tag: string }> };
    const kept = journal.entries.filter((e) => e.idx <= 3);
    for (const e of kept) cpSync(join(migrations, `${e.tag}.sql`), join(upTo, `${e.tag}.sql`));
    writeFileSync(join(upTo, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: kept }));
    expect(readdirSync(upTo).filter((f) => f.endsWith('.sql'))).toHaveLength(4);

    const file = join(dir, 'env.sqlite');
    const old = new Database(file);
    migrate(drizzle(old), { migrationsFolder: upTo });
    const at = '2026-01-01T00:00:00.000Z';
    old.prepare(`INSERT INTO connect_clients (client_proof_key_thumbprint, account_id, status, label, device_type, first_requested_at, requested_at, request_count, updated_at, approved_at, last_seen_at, version)
      VALUES (?, 'owner', 'approved', 'Kitchen iPad', 'tablet', ?, ?, 1, ?, ?, ?, 3)`).run(A, at, at, at, at, at);
    old.prepare("INSERT INTO audit_log (at, actor, action, client_proof_key_thumbprint, detail) VALUES (?, 'web', 'client_approved', ?, ?)").run(at, A, JSON.stringify({ was: 'pending', endedSessions: 0 }));
    old.prepare("INSERT INTO connect_settings (id, security_mode, updated_at) VALUES (1, 'client-approval', ?)").run(at);
    old.close();

    const db = openEnvDatabase(file);
    const [client] = listClients({ db } as never) as unknown as Array<Record<string, unknown>>;
    expect(client).toMatchObject({ clientProofKeyThumbprint: A, status: 'approved', lastSeenAt: at, name: null, approvalExpiresAt: null, approver: false });
    expect(db.$client.prepare('SELECT version, label FROM connect_clients').get()).toEqual({ version: 3, label: 'Kitchen iPad' });
    expect(db.$client.prepare('SELECT count(*) AS n FROM audit_log').get()).toEqual({ n: 1 });
    expect(db.$client.prepare('SELECT security_mode, lockdown_until FROM connect_settings').get()).toEqual({ security_mode: 'client-approval', lockdown_until: null });
    expect(db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
    // The new CHECKs hold: an approver or an expiry only on an approved row.
    expect(() => db.$client.prepare("UPDATE connect_clients SET status = 'pending', approved_at = NULL, last_seen_at = NULL, approver = 1").run()).toThrow(/connect_clients_approver_only_approved/);
  });
});

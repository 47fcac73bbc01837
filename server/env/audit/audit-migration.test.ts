// Old audit rows stay readable: a database written before details were structured is migrated to
// typed JSON details (and `{legacy}` for text of no known shape), then read and rendered as usual.
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeAuditEntry } from '../../../shared/audit-text';
import { AuditEntry } from '../../../shared/contracts';
import { openEnvDatabase } from '../db/database';
import { listAudit } from './audit.service';

const migrations = fileURLToPath(new URL('../../../drizzle/env', import.meta.url));
const A = 'A'.repeat(43);
const B = 'B'.repeat(43);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-migration-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A database at the first migration only, as every environment was before structured details. */
function databaseBeforeStructuredDetails(file: string) {
  const first = join(dir, 'first-migration');
  mkdirSync(join(first, 'meta'), { recursive: true });
  cpSync(join(migrations, '0000_init.sql'), join(first, '0000_init.sql'));
  const journal = JSON.parse(readFileSync(join(migrations, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
  writeFileSync(join(first, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: journal.entries.filter((e) => e.tag === '0000_init') }));
  const sqlite = new Database(file);
  migrate(drizzle(sqlite), { migrationsFolder: first });
  return sqlite;
}

describe('the structured audit migration', () => {
  it('turns every text shape the server wrote into its typed detail, and keeps other text as legacy', () => {
    const file = join(dir, 'env.sqlite');
    const old = databaseBeforeStructuredDetails(file);
    const insert = old.prepare('INSERT INTO audit_log (at, actor, action, client_proof_key_thumbprint, detail) VALUES (?, ?, ?, ?, ?)');
    const at = '2026-01-01T00:00:00.000Z';
    const rows: Array<[string, string, string | null, string | null]> = [
      ['web', 'security_mode_set', null, 'account → client-approval'],
      ['cli', 'security_mode_set', null, 'unreadable → account'],
      ['system', 'client_requested', A, null],
      ['web', 'client_approved', A, 'was pending'],
      ['api', 'client_revoked', A, 'was approved; ended 2 session(s)'],
      ['system', 'client_account_changed', A, 'requested from another account; decision cleared'],
      ['system', 'pending_evicted', null, `dropped 5 pending client(s), over the cap of 100 pending clients; last at ${at}; e.g. ${A}, ${B}`],
      ['system', 'pending_expired', B, `dropped 1 pending client(s), untouched for 24 h; last at ${at}; e.g. ${B}`],
      ['web', 'client_rejected', A, 'something else'],
    ];
    for (const [actor, action, thumbprint, detail] of rows) insert.run(at, actor, action, thumbprint, detail);
    old.close();

    const db = openEnvDatabase(file);
    const entries = listAudit({ db }, { limit: 50 }).reverse();
    expect(entries.map((e) => e.detail)).toEqual([
      { from: 'account', to: 'client-approval' },
      { from: null, to: 'account' },
      {},
      { was: 'pending', endedSessions: 0 },
      { was: 'approved', endedSessions: 2 },
      { legacy: 'requested from another account; decision cleared' },
      { count: 5, sample: [A, B], lastAt: at },
      { count: 1, sample: [B], lastAt: at },
      { legacy: 'something else' },
    ]);
    for (const entry of entries) expect(AuditEntry.safeParse(entry).success).toBe(true);
    expect(entries.map((e) => describeAuditEntry(e, null))).toEqual([
      'Changed the security mode from account access to client approval',
      'Changed the security mode from unreadable to account access',
      'a client asked to connect',
      'Approved a client',
      'Revoked a client (ended 2 sessions)',
      'client account changed: requested from another account; decision cleared',
      '5 pending requests were dropped (too many pending requests)',
      'A pending request expired after 24 hours',
      'client rejected: something else',
    ]);
    // From now on the database refuses a detail that is not a JSON object, or an unknown action.
    expect(() => db.$client.prepare("INSERT INTO audit_log (at, actor, action, detail) VALUES (?, 'web', 'client_approved', 'was pending')").run(at)).toThrow(/CHECK/);
    expect(() => db.$client.prepare("INSERT INTO audit_log (at, actor, action, detail) VALUES (?, 'web', 'made_up', '{}')").run(at)).toThrow(/CHECK/);
    db.$client.close();
  });
});

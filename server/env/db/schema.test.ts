import { describe, expect, it } from 'vitest';
import { openMemoryEnvDatabase } from './database';

const at = '2026-01-01T00:00:00.000Z';
const insert = (db: ReturnType<typeof openMemoryEnvDatabase>, over: Record<string, unknown>) => {
  const row = {
    client_proof_key_thumbprint: 'x'.repeat(43),
    account_id: 'owner',
    status: 'pending',
    device_type: 'unknown',
    first_requested_at: at,
    requested_at: at,
    request_count: 1,
    updated_at: at,
    approved_at: null,
    rejected_at: null,
    revoked_at: null,
    last_seen_at: null,
    ...over,
  };
  const cols = Object.keys(row);
  db.$client.prepare(`INSERT INTO connect_clients (${cols.join(',')}) VALUES (${cols.map((c) => `@${c}`).join(',')})`).run(row);
};

describe('environment schema CHECK constraints (raw SQL)', () => {
  it('accepts a valid pending row and the WAL/foreign-key pragmas are on for files', () => {
    const db = openMemoryEnvDatabase();
    insert(db, {});
    expect(db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it.each([
    ['an unknown security mode', "INSERT INTO connect_settings (id, security_mode, updated_at) VALUES (1, 'open', '" + at + "')", /connect_settings_mode/],
    ['a second settings row', "INSERT INTO connect_settings (id, security_mode, updated_at) VALUES (2, 'account', '" + at + "')", /connect_settings_single_row/],
    ['an unknown audit actor', "INSERT INTO audit_log (at, actor, action, detail) VALUES ('" + at + "', 'robot', 'client_requested', '{}')", /audit_log_actor/],
    ['an unknown audit action', "INSERT INTO audit_log (at, actor, action, detail) VALUES ('" + at + "', 'web', 'x', '{}')", /audit_log_action/],
    ['an audit detail that is not a JSON object', "INSERT INTO audit_log (at, actor, action, detail) VALUES ('" + at + "', 'web', 'client_approved', 'was pending')", /audit_log_detail_object/],
  ])('refuses %s', (_name, statement, message) => {
    const db = openMemoryEnvDatabase();
    expect(() => db.$client.prepare(statement).run()).toThrow(message);
  });

  it.each([
    ['an unknown status', { status: 'revoked' }, /connect_clients_status/],
    ['an unknown device type', { device_type: 'fridge' }, /connect_clients_device_type/],
    ['both decision timestamps', { status: 'approved', approved_at: at, rejected_at: at }, /connect_clients_one_decision|rejected_matches/],
    ['approved without approved_at', { status: 'approved' }, /connect_clients_approved_matches/],
    ['approved_at on a pending row', { approved_at: at }, /connect_clients_approved_matches/],
    ['rejected without rejected_at', { status: 'rejected' }, /connect_clients_rejected_matches/],
    ['last_seen_at on a pending row', { last_seen_at: at }, /connect_clients_seen_only_approved/],
    ['an approved row with revoked_at', { status: 'approved', approved_at: at, revoked_at: at }, /connect_clients_revoked_inert/],
    ['a negative request count', { request_count: -1 }, /connect_clients_request_count/],
    ['a NULL account', { account_id: null }, /NOT NULL/],
  ])('refuses a client row with %s', (_name, over, message) => {
    const db = openMemoryEnvDatabase();
    expect(() => insert(db, over)).toThrow(message);
    expect(db.$client.prepare('SELECT count(*) AS n FROM connect_clients').get()).toEqual({ n: 0 });
  });

  it('refuses an UPDATE that would break a CHECK and leaves the row as it was', () => {
    const db = openMemoryEnvDatabase();
    insert(db, {});
    expect(() => db.$client.prepare("UPDATE connect_clients SET status = 'approved'").run()).toThrow(/approved_matches/);
    expect(db.$client.prepare('SELECT status FROM connect_clients').get()).toEqual({ status: 'pending' });
  });
});

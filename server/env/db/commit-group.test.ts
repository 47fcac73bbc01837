// Group commit: units of one turn share a transaction, yet each stays atomic and nobody hears of a
// unit before the COMMIT that stored it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCommitGroup } from './commit-group';
import { openMemoryEnvDatabase, type EnvDb } from './database';

let db: EnvDb;
beforeEach(() => {
  db = openMemoryEnvDatabase();
  db.$client.exec('CREATE TABLE parent (id TEXT PRIMARY KEY); CREATE TABLE child (id TEXT PRIMARY KEY, parent TEXT REFERENCES parent(id))');
});
afterEach(() => db.$client.close());

const insert = (table: 'parent' | 'child', id: string, parent?: string) => () =>
  parent === undefined ? db.$client.prepare(`INSERT INTO ${table} (id) VALUES (?)`).run(id) : db.$client.prepare(`INSERT INTO ${table} (id, parent) VALUES (?, ?)`).run(id, parent);
/** Counts the group transactions: every unit runs in a nested transaction (its savepoint) of one. */
function countGroupTransactions(units: number) {
  const transactions = vi.spyOn(db.$client, 'transaction');
  return () => transactions.mock.calls.length - units;
}
const ids = (table: string) => (db.$client.prepare(`SELECT id FROM ${table} ORDER BY id`).pluck().all() as string[]);

describe('createCommitGroup', () => {
  it('runs the units of one turn in one transaction, in order, and resolves each with its result', async () => {
    const groupTransactions = countGroupTransactions(3);
    const group = createCommitGroup(db, 64);
    const results = await Promise.all(['a', 'b', 'c'].map((id) => group.run(() => (insert('parent', id)(), `stored ${id}`))));
    expect(results).toEqual(['stored a', 'stored b', 'stored c']);
    expect(ids('parent')).toEqual(['a', 'b', 'c']);
    expect(groupTransactions()).toBe(1);
  });

  it('a unit that throws rolls back only its own writes; its caller gets the error', async () => {
    const group = createCommitGroup(db, 64);
    const outcomes = await Promise.allSettled([
      group.run(insert('parent', 'a')),
      group.run(() => {
        insert('parent', 'b')();
        throw new Error('refused after writing');
      }),
      group.run(insert('parent', 'c')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toBe('refused after writing');
    expect(ids('parent')).toEqual(['a', 'c']);
  });

  it('when the COMMIT fails, every unit of the group is refused and nothing of it is stored', async () => {
    const group = createCommitGroup(db, 64);
    let resolvedBeforeCommit = false;
    const first = group.run(insert('parent', 'a'));
    void first.then(() => (resolvedBeforeCommit = true), () => undefined);
    // A deferred foreign key is checked at COMMIT, after every unit returned normally.
    const second = group.run(() => {
      db.$client.pragma('defer_foreign_keys = ON');
      insert('child', 'x', 'no-such-parent')();
    });
    const outcomes = await Promise.allSettled([first, second]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(resolvedBeforeCommit).toBe(false);
    expect(ids('parent')).toEqual([]);
    expect(ids('child')).toEqual([]);
    // The group carries on with the next turn.
    await group.run(insert('parent', 'b'));
    expect(ids('parent')).toEqual(['b']);
  });

  it('takes at most maxUnits per transaction, and lets other work run between groups', async () => {
    const groupTransactions = countGroupTransactions(10);
    const group = createCommitGroup(db, 4);
    const order: string[] = [];
    const units = Array.from({ length: 10 }, (_, i) => group.run(() => (insert('parent', `p${i}`)(), order.push(`unit ${i}`))));
    // Queued after the first group's turn: it runs before the second group.
    setImmediate(() => order.push('other work'));
    await Promise.all(units);
    expect(groupTransactions()).toBe(3);
    expect(order.indexOf('other work')).toBe(4);
    expect(ids('parent')).toHaveLength(10);
  });
});

// Group commit: write transactions that become ready in the same event-loop turn share one
// BEGIN IMMEDIATE … COMMIT, so they share one fsync: with synchronous=FULL the fsync blocks the
// event loop, and one per mint was the largest single cost of a mint under load.
//
// Each unit still runs alone and atomically: in its own savepoint, so a unit that throws rolls back
// only its own writes; nobody learns a unit's result before the COMMIT that made it durable; and
// since better-sqlite3 is synchronous, units of a group and every other transaction are serialized
// exactly as separate transactions would be.
import type { EnvDb } from './database';

interface Unit<T> {
  work: (db: EnvDb) => T;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface CommitGroup {
  /** Runs `work` (given the database, inside its savepoint) in the next group transaction; resolves after its COMMIT. */
  run<T>(work: (db: EnvDb) => T): Promise<T>;
}

/**
 * `maxUnits` bounds one group: the event loop is held for at most that many units and one fsync,
 * and the rest go in the next turn, after waiting I/O (and other groups) had their turn.
 */
export function createCommitGroup(db: EnvDb, maxUnits: number): CommitGroup {
  const queue: Unit<unknown>[] = [];
  let scheduled = false;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  function flush() {
    scheduled = false;
    const units = queue.splice(0, maxUnits);
    if (queue.length > 0) schedule();
    if (units.length === 0) return;
    const outcomes: Outcome[] = [];
    // better-sqlite3's own transaction functions: a nested one is a savepoint, and their
    // BEGIN/SAVEPOINT/COMMIT statements are compiled once.
    const sqlite = db.$client;
    try {
      sqlite
        .transaction(() => {
          for (const unit of units) {
            // An error that ended the whole transaction (disk full, I/O) must not let the rest
            // run in autocommit: stop, and the group fails as one.
            if (!sqlite.inTransaction) throw new Error('the group transaction ended early');
            try {
              outcomes.push({ ok: true, value: sqlite.transaction(unit.work)(db) });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      // BEGIN or COMMIT failed, or the transaction ended early: nothing of this group is stored.
      for (const unit of units) unit.reject(error);
      return;
    }
    units.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  }

  return {
    run<T>(work: (db: EnvDb) => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve, reject } as Unit<unknown>);
        schedule();
      });
    },
  };
}

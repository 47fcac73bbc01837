import type { EnvSql } from './database';

const byDatabase = new WeakMap<object, Map<string, unknown>>();

/**
 * A drizzle prepared query, built once per database and reused by every call and transaction on
 * it. Building the SQL of a query anew costs 20–100 µs, most of a mint's database time (bench
 * P1–P3); running a prepared one costs a few. better-sqlite3 has one synchronous connection, so
 * a query prepared once runs inside whichever transaction is open when it is called.
 */
export function prepared<T>(db: EnvSql, name: string, build: (db: EnvSql) => T): T {
  // `_.schema` is created once per drizzle() instance and shared by its transactions.
  const key = db._.schema as object | undefined;
  if (!key) return build(db);
  let queries = byDatabase.get(key);
  if (!queries) byDatabase.set(key, (queries = new Map()));
  let query = queries.get(name) as T | undefined;
  if (query === undefined) queries.set(name, (query = build(db)));
  return query;
}

import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import { ensurePrivateDatabaseFile } from '../../common/files';
import { packagePath } from '../../common/package-path';
import * as schema from './schema';

export type EnvDb = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const migrationsFolder = packagePath('drizzle', 'env');

/**
 * Opens (or creates) the environment database and applies the committed migrations.
 * WAL for concurrent readers; synchronous=FULL so an acknowledged decision survives a crash.
 */
export function openEnvDatabase(file: string): EnvDb {
  const sqlite = new Database(ensurePrivateDatabaseFile(file));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema }) as EnvDb;
  migrate(db, { migrationsFolder });
  return db;
}

/** A fresh in-memory database with the real migrations, for tests. */
export const openMemoryEnvDatabase = (): EnvDb => openEnvDatabase(':memory:');

/** The database or a transaction on it: in-transaction helpers accept either. */
export type EnvSql = BaseSQLiteDatabase<'sync', Database.RunResult, typeof schema>;

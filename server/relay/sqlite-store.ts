import Database from 'better-sqlite3';
import { and, eq, lt, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packagePath } from '../common/package-path';
import * as schema from './db/schema';
import { relayLinks, relayReplayMarkers } from './db/schema';
import type { RelayLinkRecord, RelayStore } from './store';
import { ensurePrivateDatabaseFile } from '../common/files';

const migrationsFolder = packagePath('drizzle', 'relay');

export function openSqliteRelayStore(file: string): RelayStore {
  const sqlite = new Database(ensurePrivateDatabaseFile(file));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder });

  // The hot write (one per DPoP-authenticated request): compiled once, not rebuilt by Drizzle per call.
  const insertMarker = sqlite.prepare('INSERT INTO replay_markers (kind, key, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
  // Read on every connect: Drizzle builds its SQL once here instead of on each call.
  const selectLink = db.select().from(relayLinks).where(eq(relayLinks.environmentId, sql.placeholder('environmentId'))).prepare();
  const toRecord = (row: typeof relayLinks.$inferSelect): RelayLinkRecord => ({ ...row, environmentPublicKey: JSON.parse(row.environmentPublicKey) });

  return {
    async getLink(environmentId) {
      const row = selectLink.get({ environmentId });
      return row ? toRecord(row) : null;
    },
    async saveLink(record, now) {
      const values = { ...record, environmentPublicKey: JSON.stringify(record.environmentPublicKey), updatedAt: now };
      const result = db
        .insert(relayLinks)
        .values({ ...values, createdAt: now })
        .onConflictDoUpdate({
          target: relayLinks.environmentId,
          set: { environmentPublicKey: values.environmentPublicKey, endpoint: values.endpoint, updatedAt: now },
          setWhere: eq(relayLinks.accountId, record.accountId),
        })
        .run();
      if (result.changes === 1) return { saved: true };
      const existing = db.select({ accountId: relayLinks.accountId }).from(relayLinks).where(eq(relayLinks.environmentId, record.environmentId)).get();
      return { saved: false, accountId: existing?.accountId ?? '' };
    },
    async deleteLink(environmentId) {
      return db.delete(relayLinks).where(eq(relayLinks.environmentId, environmentId)).run().changes > 0;
    },
    async consumeMarker(kind, key, expiresAt) {
      return insertMarker.run(kind, key, expiresAt).changes === 1;
    },
    async pruneMarkers(now) {
      return db.delete(relayReplayMarkers).where(and(lt(relayReplayMarkers.expiresAt, now))).run().changes;
    },
    async ping() {
      sqlite.prepare('SELECT 1').get();
    },
    async close() {
      sqlite.close();
    },
  };
}

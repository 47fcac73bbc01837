// The relay's SQLite store (its embedded default). drizzle-kit generates drizzle/relay from it.
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

export const relayLinks = sqliteTable('relay_links', {
  environmentId: text('environment_id').primaryKey(),
  accountId: text('account_id').notNull(),
  environmentPublicKey: text('environment_public_key').notNull(),
  // A direct endpoint, or null for an environment reached only through its tunnel (SPEC §11).
  endpoint: text('endpoint'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const relayReplayMarkers = sqliteTable(
  'replay_markers',
  {
    kind: text('kind').notNull(),
    key: text('key').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.key] }), index('replay_markers_expiry_idx').on(t.expiresAt)],
);

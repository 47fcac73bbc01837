// The relay's PostgreSQL store (several relay instances share it). drizzle-kit generates
// drizzle/relay-pg from this file; it mirrors ./schema.ts (the embedded SQLite store).
// Times are epoch milliseconds, as everywhere in the relay.
import type { JWK } from 'jose';
import { bigint, index, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

export const relayLinks = pgTable('relay_links', {
  environmentId: text('environment_id').primaryKey(),
  accountId: text('account_id').notNull(),
  environmentPublicKey: jsonb('environment_public_key').$type<JWK>().notNull(),
  // A direct endpoint, or null for an environment reached only through its tunnel (SPEC §11).
  endpoint: text('endpoint'),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
});

export const relayReplayMarkers = pgTable(
  'replay_markers',
  {
    kind: text('kind').notNull(),
    key: text('key').notNull(),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.key] }), index('replay_markers_expiry_idx').on(t.expiresAt)],
);

// The one identity every instance on this database must share (SPEC §12): the first instance to
// start records its key and public URL; a later one with another key or URL refuses to start.
export const relayIdentity = pgTable('relay_identity', {
  id: text('id').primaryKey(),
  publicKey: jsonb('public_key').$type<JWK>().notNull(),
  publicUrl: text('public_url').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
});

// Which instance holds each environment's tunnel (SPEC §12), so any instance can forward to it.
// The holder renews its lease every 10 s; a lapsed lease is an instance gone.
export const relayTunnels = pgTable(
  'relay_tunnels',
  {
    environmentId: text('environment_id').primaryKey(),
    instanceId: text('instance_id').notNull(),
    internalUrl: text('internal_url').notNull(),
    leaseExpiresAt: bigint('lease_expires_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('relay_tunnels_instance_idx').on(t.instanceId)],
);

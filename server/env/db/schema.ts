// Environment database (SPEC §5.1). drizzle-kit generates drizzle/env from this file.
import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { auditActions, type AuditEntry } from '../../../shared/contracts';

/** The one row that names this environment. */
export const environment = sqliteTable(
  'environment',
  {
    id: integer('id').primaryKey(),
    environmentId: text('environment_id').notNull(),
    createdAt: text('created_at').notNull(),
  },
  (t) => [check('environment_single_row', sql`${t.id} = 1`)],
);

export const connectSettings = sqliteTable(
  'connect_settings',
  {
    id: integer('id').primaryKey(),
    securityMode: text('security_mode').notNull(),
    updatedAt: text('updated_at').notNull(),
  },
  (t) => [
    check('connect_settings_single_row', sql`${t.id} = 1`),
    check('connect_settings_mode', sql`${t.securityMode} IN ('account', 'client-approval')`),
  ],
);

export const connectClients = sqliteTable(
  'connect_clients',
  {
    clientProofKeyThumbprint: text('client_proof_key_thumbprint').primaryKey(),
    accountId: text('account_id').notNull(),
    deviceId: text('device_id'),
    status: text('status', { enum: ['pending', 'approved', 'rejected'] }).notNull(),
    label: text('label'),
    os: text('os'),
    deviceType: text('device_type', { enum: ['desktop', 'mobile', 'tablet', 'bot', 'unknown'] })
      .notNull()
      .default('unknown'),
    firstRequestedAt: text('first_requested_at').notNull(),
    requestedAt: text('requested_at').notNull(),
    requestCount: integer('request_count').notNull(),
    updatedAt: text('updated_at').notNull(),
    approvedAt: text('approved_at'),
    rejectedAt: text('rejected_at'),
    revokedAt: text('revoked_at'),
    lastSeenAt: text('last_seen_at'),
    /** Bumped on every decision; credentials carry the version they were minted under. */
    version: integer('version').notNull().default(0),
  },
  (t) => [
    check('connect_clients_status', sql`${t.status} IN ('pending', 'approved', 'rejected')`),
    check(
      'connect_clients_device_type',
      sql`${t.deviceType} IN ('desktop', 'mobile', 'tablet', 'bot', 'unknown')`,
    ),
    check('connect_clients_one_decision', sql`${t.approvedAt} IS NULL OR ${t.rejectedAt} IS NULL`),
    check(
      'connect_clients_approved_matches',
      sql`(${t.status} = 'approved') = (${t.approvedAt} IS NOT NULL)`,
    ),
    check(
      'connect_clients_rejected_matches',
      sql`(${t.status} = 'rejected') = (${t.rejectedAt} IS NOT NULL)`,
    ),
    check('connect_clients_seen_only_approved', sql`${t.lastSeenAt} IS NULL OR ${t.status} = 'approved'`),
    check('connect_clients_revoked_inert', sql`${t.revokedAt} IS NULL OR ${t.status} = 'pending'`),
    check('connect_clients_request_count', sql`${t.requestCount} >= 0`),
    index('connect_clients_status_idx').on(t.status, t.revokedAt),
  ],
);

/** One-time connect credentials (SPEC §2): stored hashed, bound to one thumbprint. */
export const connectCredentials = sqliteTable(
  'connect_credentials',
  {
    credentialHash: text('credential_hash').primaryKey(),
    clientProofKeyThumbprint: text('client_proof_key_thumbprint').notNull(),
    accountId: text('account_id').notNull(),
    securityMode: text('security_mode').notNull(),
    clientVersion: integer('client_version'),
    issuedAt: integer('issued_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    redeemedAt: integer('redeemed_at'),
  },
  (t) => [
    check('connect_credentials_mode', sql`${t.securityMode} IN ('account', 'client-approval')`),
    index('connect_credentials_thumbprint_idx').on(t.clientProofKeyThumbprint),
  ],
);

/** Client sessions (DPoP-bound, stored hashed). */
export const clientSessions = sqliteTable(
  'client_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    clientProofKeyThumbprint: text('client_proof_key_thumbprint').notNull(),
    accountId: text('account_id').notNull(),
    scopes: text('scopes').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    endedAt: integer('ended_at'),
  },
  (t) => [index('client_sessions_thumbprint_idx').on(t.clientProofKeyThumbprint)],
);

export const ownerSessions = sqliteTable('owner_sessions', {
  tokenHash: text('token_hash').primaryKey(),
  scopes: text('scopes').notNull(),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
});

export const ownerLoginCodes = sqliteTable('owner_login_codes', {
  codeHash: text('code_hash').primaryKey(),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
  usedAt: integer('used_at'),
});

/** Single-use markers (mint jti/nonce, DPoP proofs), pruned after `expires_at`. */
export const replayMarkers = sqliteTable(
  'replay_markers',
  {
    kind: text('kind').notNull(),
    key: text('key').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.key] }), index('replay_markers_expiry_idx').on(t.expiresAt)],
);

export const relayLink = sqliteTable(
  'relay_link',
  {
    id: integer('id').primaryKey(),
    relayUrl: text('relay_url').notNull(),
    relayIssuer: text('relay_issuer').notNull(),
    relayPublicKey: text('relay_public_key').notNull(),
    accountId: text('account_id').notNull(),
    linkedAt: text('linked_at').notNull(),
    /** Where clients reach this environment through the relay's tunnel (SPEC §11). */
    routedEndpoint: text('routed_endpoint'),
    /** This environment's device page origin at the relay, when the relay serves pages. */
    deviceOrigin: text('device_origin'),
  },
  (t) => [check('relay_link_single_row', sql`${t.id} = 1`)],
);

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: text('at').notNull(),
    actor: text('actor', { enum: ['web', 'cli', 'api', 'system'] }).notNull(),
    action: text('action', { enum: auditActions }).notNull(),
    clientProofKeyThumbprint: text('client_proof_key_thumbprint'),
    /** A JSON object: the action's typed detail (AuditRecord), or `{legacy}` for text from before. */
    detail: text('detail', { mode: 'json' }).$type<AuditEntry['detail']>().notNull(),
  },
  (t) => [
    check('audit_log_actor', sql`${t.actor} IN ('web', 'cli', 'api', 'system')`),
    check('audit_log_action', sql.raw(`"action" IN (${auditActions.map((a) => `'${a}'`).join(', ')})`)),
    check('audit_log_detail_object', sql`json_valid(${t.detail}) AND json_type(${t.detail}) = 'object'`),
  ],
);

export type ConnectClientRow = typeof connectClients.$inferSelect;

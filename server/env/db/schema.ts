// Environment database (SPEC §5.1). drizzle-kit generates drizzle/env from this file.
import { sql } from 'drizzle-orm';
import { blob, check, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { auditActions, auditActors, type AuditEntry } from '../../../shared/contracts';

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
    /** New devices are paused until this time (SPEC §13); null: accepted. */
    lockdownUntil: text('lockdown_until'),
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
    /** Owner-set name (SPEC §13); the client's own `label` stays as "calls itself …". */
    name: text('name'),
    /** An approval with a lifetime ends here (ISO); null: until revoked. */
    approvalExpiresAt: text('approval_expires_at'),
    /** When this client's last approval with a lifetime ran out (ISO); cleared by any later decision. */
    approvalExpiredAt: text('approval_expired_at'),
    /** The owner lets this approved client approve others (S59). */
    approver: integer('approver', { mode: 'boolean' }).notNull().default(false),
    /** The address the relay saw on the client's latest request (the mint request's signed `source`). */
    lastSource: text('last_source'),
    /** The client software's own version string, as it reported it (unauthenticated, normalized). */
    software: text('software'),
    /** The invite this client joined with, if any. */
    inviteId: text('invite_id'),
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
    check('connect_clients_expiry_only_approved', sql`${t.approvalExpiresAt} IS NULL OR ${t.status} = 'approved'`),
    check('connect_clients_approver_only_approved', sql`${t.approver} = 0 OR ${t.status} = 'approved'`),
    index('connect_clients_status_idx').on(t.status, t.revokedAt),
    /** The paged list (SPEC §13): pending by first request, decided by newest decision, keyset on each. */
    index('connect_clients_pending_order_idx').on(t.status, t.revokedAt, t.firstRequestedAt, t.clientProofKeyThumbprint),
    index('connect_clients_decided_order_idx').on(t.revokedAt, sql`coalesce("approved_at", "rejected_at")`, t.clientProofKeyThumbprint),
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
  /** When this session last passed a passkey user verification (step-up, SPEC §14), epoch ms. */
  verifiedAt: integer('verified_at'),
});

/** Invites (SPEC §13): pre-approved pairing of exactly one key. The secret is kept to check the HMAC proof. */
export const connectInvites = sqliteTable(
  'connect_invites',
  {
    inviteId: text('invite_id').primaryKey(),
    label: text('label'),
    secret: text('secret').notNull(),
    createdAt: text('created_at').notNull(),
    expiresAt: text('expires_at').notNull(),
    createdBy: text('created_by').notNull(),
    usedAt: text('used_at'),
    usedByThumbprint: text('used_by_thumbprint'),
    revokedAt: text('revoked_at'),
  },
  (t) => [
    check('connect_invites_used_pair', sql`(${t.usedAt} IS NULL) = (${t.usedByThumbprint} IS NULL)`),
    index('connect_invites_expiry_idx').on(t.expiresAt),
  ],
);

/** The owner's passkeys (SPEC §14, @simplewebauthn/server). */
export const ownerPasskeys = sqliteTable('owner_passkeys', {
  credentialId: text('credential_id').primaryKey(),
  name: text('name').notNull(),
  publicKey: blob('public_key', { mode: 'buffer' }).notNull(),
  counter: integer('counter').notNull(),
  transports: text('transports', { mode: 'json' }).$type<string[]>(),
  deviceType: text('device_type'),
  backedUp: integer('backed_up', { mode: 'boolean' }).notNull().default(false),
  aaguid: text('aaguid'),
  createdAt: text('created_at').notNull(),
  lastUsedAt: text('last_used_at'),
});

/** WebAuthn challenges: single-use, short-lived, bound to a purpose (and to an owner session for step-up). */
export const ownerWebauthnChallenges = sqliteTable('owner_webauthn_challenges', {
  challenge: text('challenge').primaryKey(),
  purpose: text('purpose', { enum: ['register', 'login', 'step_up'] }).notNull(),
  ownerSessionHash: text('owner_session_hash'),
  expiresAt: integer('expires_at').notNull(),
  usedAt: integer('used_at'),
});

/** Webhooks (SPEC §14). The signing secret is stored sealed with a key kept outside the database (S61). */
export const webhooks = sqliteTable(
  'webhooks',
  {
    webhookId: text('webhook_id').primaryKey(),
    url: text('url').notNull(),
    events: text('events', { mode: 'json' }).$type<string[]>().notNull(),
    format: text('format', { enum: ['json', 'slack', 'discord'] }).notNull(),
    sealedSecret: text('sealed_secret').notNull(),
    createdAt: text('created_at').notNull(),
  },
  (t) => [check('webhooks_format', sql`${t.format} IN ('json', 'slack', 'discord')`)],
);

/** The persistent delivery queue and log: a restart loses none. */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    webhookId: text('webhook_id')
      .notNull()
      .references(() => webhooks.webhookId, { onDelete: 'cascade' }),
    /** The Standard Webhooks `webhook-id`: the same across retries. */
    messageId: text('message_id').notNull(),
    eventType: text('event_type').notNull(),
    /** Repeated `client.pending` of one device collapse on this key. */
    collapseKey: text('collapse_key'),
    payload: text('payload').notNull(),
    createdAt: integer('created_at').notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at'),
    lastAttemptAt: integer('last_attempt_at'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    deliveredAt: integer('delivered_at'),
  },
  (t) => [
    check('webhook_deliveries_status', sql`${t.status} IN ('pending', 'delivered', 'failed')`),
    index('webhook_deliveries_due_idx').on(t.status, t.nextAttemptAt),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.id),
  ],
);

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
    actor: text('actor', { enum: auditActors }).notNull(),
    action: text('action', { enum: auditActions }).notNull(),
    clientProofKeyThumbprint: text('client_proof_key_thumbprint'),
    /** A JSON object: the action's typed detail (AuditRecord), or `{legacy}` for text from before. */
    detail: text('detail', { mode: 'json' }).$type<AuditEntry['detail']>().notNull(),
  },
  (t) => [
    check('audit_log_actor', sql.raw(`"actor" IN (${auditActors.map((a) => `'${a}'`).join(', ')})`)),
    check('audit_log_action', sql.raw(`"action" IN (${auditActions.map((a) => `'${a}'`).join(', ')})`)),
    index('audit_log_thumbprint_idx').on(t.clientProofKeyThumbprint, t.id),
    check('audit_log_detail_object', sql`json_valid(${t.detail}) AND json_type(${t.detail}) = 'object'`),
  ],
);

export type ConnectClientRow = typeof connectClients.$inferSelect;

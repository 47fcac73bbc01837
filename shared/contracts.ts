// The shapes every part speaks (SPEC §3, §6). Written once, used by routers, web, CLI and clients.
import { z } from 'zod';
import { MAX_APPROVAL_SECONDS } from './approval-lifetimes';

export const securityModes = ['account', 'client-approval'] as const;
export const SecurityMode = z.enum(securityModes);
export type SecurityMode = z.infer<typeof SecurityMode>;

export const clientStatuses = ['pending', 'approved', 'rejected'] as const;
export const ClientStatus = z.enum(clientStatuses);
export type ClientStatus = z.infer<typeof ClientStatus>;

export const deviceTypes = ['desktop', 'mobile', 'tablet', 'bot', 'unknown'] as const;
export const DeviceType = z.enum(deviceTypes);
export type DeviceType = z.infer<typeof DeviceType>;

/** An RFC 7638 SHA-256 thumbprint: 43 base64url characters. */
export const Thumbprint = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be an RFC 7638 SHA-256 thumbprint (43 base64url characters)');

export const LABEL_MAX = 80;
export const OS_MAX = 64;
/** The client software's name and version as it reports them, e.g. `gatehouse-cli/0.1.0`. */
export const SOFTWARE_MAX = 64;
export const DEVICE_ID_MAX = 128;

/**
 * Unicode control (Cc: C0, DEL, C1) and format (Cf: bidi overrides and isolates, zero-width, BOM)
 * characters, line and paragraph separators, and lone surrogates: none of them is visible, and
 * with them one device can pose as another (`Owner \u202Eenohp-s’nalA\u202C laptop`, S56).
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const HAS_INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * The one normal form of client-supplied text that every surface shows (web, CLI, `--json`):
 * invisible characters stripped, trimmed, capped at `max` UTF-16 units without splitting a pair.
 */
export function normalizeClientText(text: string, max: number): string {
  const visible = HAS_INVISIBLE.test(text) ? text.replace(INVISIBLE, '') : text;
  const capped = visible.trim().slice(0, max);
  return (HAS_INVISIBLE.test(capped) ? capped.replace(INVISIBLE, '') : capped).trim();
}

/** Client-supplied text field: normalized, and absent when nothing visible is left. */
export const clientText = (max: number) =>
  z
    .string()
    .max(max * 4)
    .transform((s) => normalizeClientText(s, max))
    .transform((s) => (s === '' ? undefined : s))
    .optional();

/** Client-supplied, unauthenticated device description: normalized and length-capped. */
export const ClientInfo = z.object({
  label: clientText(LABEL_MAX),
  deviceType: DeviceType.optional(),
  os: clientText(OS_MAX),
  software: clientText(SOFTWARE_MAX),
});
export type ClientInfo = z.input<typeof ClientInfo>;

export const IsoTime = z.string();

export const ConnectClient = z.object({
  clientProofKeyThumbprint: z.string(),
  accountId: z.string(),
  deviceId: z.string().nullable(),
  status: ClientStatus,
  client: z.object({
    label: z.string().nullable(),
    deviceType: DeviceType,
    os: z.string().nullable(),
  }),
  verificationCode: z.string(),
  firstRequestedAt: IsoTime,
  requestedAt: IsoTime,
  requestCount: z.number().int(),
  updatedAt: IsoTime,
  approvedAt: IsoTime.nullable(),
  rejectedAt: IsoTime.nullable(),
  lastSeenAt: IsoTime.nullable(),
  /** Owner-set name (SPEC §13), shown instead of the client's own label where set. */
  name: z.string().nullable(),
  /** When an approval with a lifetime ends (SPEC §13); null: until revoked, or not approved. */
  approvalExpiresAt: IsoTime.nullable(),
  /** When the last approval with a lifetime ran out, while the client waits to be approved again. */
  approvalExpiredAt: IsoTime.nullable(),
  /** The owner lets this approved client approve others (SPEC §13, S59). */
  approver: z.boolean(),
});
export type ConnectClient = z.infer<typeof ConnectClient>;

export const ThumbprintInput = z.object({ clientProofKeyThumbprint: Thumbprint });

export { APPROVAL_LIFETIMES, MAX_APPROVAL_SECONDS, MAX_APPROVER_APPROVAL_SECONDS } from './approval-lifetimes';

export const ApproveInput = ThumbprintInput.extend({
  expiresInSeconds: z.number().int().min(60).max(MAX_APPROVAL_SECONDS).optional(),
});
export type ApproveInput = z.infer<typeof ApproveInput>;

export const DecisionResult = z.object({ client: ConnectClient, endedSessions: z.number().int() });
export type DecisionResult = z.infer<typeof DecisionResult>;
export const RevokeResult = z.object({ revoked: z.literal(true), endedSessions: z.number().int() });
export type RevokeResult = z.infer<typeof RevokeResult>;

/** `invite`: a device joined with an invite; `approver`: an approver device decided; `client`: the client itself (key rotation). */
export const auditActors = ['web', 'cli', 'api', 'system', 'invite', 'approver', 'client'] as const;
export const AuditActor = z.enum(auditActors);
export type AuditActor = z.infer<typeof AuditActor>;

export const auditActions = [
  'security_mode_set',
  'client_requested',
  'client_approved',
  'client_rejected',
  'client_revoked',
  'client_account_changed',
  'pending_expired',
  'pending_evicted',
  // Second wave (SPEC §13–§14).
  'client_renamed',
  'client_sessions_ended',
  'approval_expired',
  'client_joined_with_invite',
  'invite_created',
  'invite_revoked',
  'lockdown_set',
  'client_key_rotated',
  'approver_set',
  'passkey_registered',
  'passkey_renamed',
  'passkey_removed',
  'webhook_created',
  'webhook_removed',
  'owner_signed_out',
] as const;
export const AuditAction = z.enum(auditActions);
export type AuditAction = z.infer<typeof AuditAction>;

const count = z.number().int().nonnegative();

/** What each action records: typed data, rendered by the page and the CLI, never parsed back from text. */
export const AuditRecord = z.discriminatedUnion('action', [
  /** `from` is null when the stored mode was unreadable. */
  /** `endedSessions`: requiring approval ended the sessions of clients that were not approved (S57). */
  z.object({ action: z.literal('security_mode_set'), detail: z.object({ from: SecurityMode.nullable(), to: SecurityMode, endedSessions: count.optional() }) }),
  z.object({ action: z.literal('client_requested'), detail: z.object({}) }),
  /** `approvedUntil`: an approval with a lifetime (SPEC §13). */
  z.object({ action: z.enum(['client_approved', 'client_rejected', 'client_revoked']), detail: z.object({ was: ClientStatus, endedSessions: count, approvedUntil: IsoTime.optional() }) }),
  z.object({ action: z.literal('client_account_changed'), detail: z.object({ endedSessions: count }) }),
  /** Drops within one window share an entry: how many, the first few thumbprints, and the last drop's time. */
  z.object({ action: z.enum(['pending_expired', 'pending_evicted']), detail: z.object({ count: count, sample: z.array(z.string()), lastAt: IsoTime }) }),
  z.object({ action: z.literal('client_renamed'), detail: z.object({ from: z.string().nullable(), to: z.string().nullable() }) }),
  /** The owner ended a device's sessions without changing its decision (e.g. in account mode). */
  z.object({ action: z.literal('client_sessions_ended'), detail: z.object({ endedSessions: count }) }),
  z.object({ action: z.literal('approval_expired'), detail: z.object({ approvedUntil: IsoTime, endedSessions: count }) }),
  z.object({ action: z.literal('client_joined_with_invite'), detail: z.object({ inviteId: z.string(), inviteLabel: z.string().nullable() }) }),
  z.object({ action: z.literal('invite_created'), detail: z.object({ inviteId: z.string(), label: z.string().nullable(), expiresAt: IsoTime }) }),
  z.object({ action: z.literal('invite_revoked'), detail: z.object({ inviteId: z.string(), label: z.string().nullable() }) }),
  /** `until` null: new devices are accepted again. */
  z.object({ action: z.literal('lockdown_set'), detail: z.object({ until: IsoTime.nullable() }) }),
  z.object({ action: z.literal('client_key_rotated'), detail: z.object({ oldThumbprint: z.string(), newThumbprint: z.string(), endedSessions: count }) }),
  z.object({ action: z.literal('approver_set'), detail: z.object({ approver: z.boolean() }) }),
  z.object({ action: z.enum(['passkey_registered', 'passkey_removed']), detail: z.object({ passkeyName: z.string() }) }),
  z.object({ action: z.literal('passkey_renamed'), detail: z.object({ from: z.string(), to: z.string() }) }),
  z.object({ action: z.enum(['webhook_created', 'webhook_removed']), detail: z.object({ webhookId: z.string(), host: z.string() }) }),
  z.object({ action: z.literal('owner_signed_out'), detail: z.object({ all: z.boolean(), endedSessions: count }) }),
]);
export type AuditRecord = z.infer<typeof AuditRecord>;

/** An entry written before details were structured whose text did not match a known shape: kept as it was. */
export const LegacyAuditRecord = z.object({ action: AuditAction, detail: z.object({ legacy: z.string() }) });

export type LegacyAuditRecord = z.infer<typeof LegacyAuditRecord>;

const AuditEntryBase = z.object({ id: z.number().int(), at: IsoTime, actor: AuditActor, clientProofKeyThumbprint: z.string().nullable() });
export const AuditEntry = z.union([z.intersection(AuditRecord, AuditEntryBase), LegacyAuditRecord.extend(AuditEntryBase.shape)]);
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditListInput = z
  .object({
    limit: z.number().int().min(1).max(500).optional(),
    before: z.number().int().positive().optional(),
    /** Only entries about this device (issue 17 item 9). */
    clientProofKeyThumbprint: Thumbprint.optional(),
    /** Only entries by this actor. */
    actor: AuditActor.optional(),
  })
  .optional();

export const AccessEvent = z.discriminatedUnion('type', [
  z.object({
    revision: z.number().int(),
    type: z.literal('snapshot'),
    payload: z.object({
      connectSecurityMode: SecurityMode.nullable(),
      connectSecurityModeError: z.string().nullable(),
      connectClients: z.array(ConnectClient),
    }),
  }),
  /**
   * The opening of a stream asked with `opening: 'summary'` (the owner console): the mode and the
   * counts instead of every row; the page loads rows through `connect.clients.list`.
   */
  z.object({
    revision: z.number().int(),
    type: z.literal('summary'),
    payload: z.object({
      connectSecurityMode: SecurityMode.nullable(),
      connectSecurityModeError: z.string().nullable(),
      counts: z.object({ pending: z.number().int(), approved: z.number().int(), rejected: z.number().int() }),
    }),
  }),
  z.object({
    revision: z.number().int(),
    type: z.literal('connectSecurityModeUpdated'),
    payload: z.object({ mode: SecurityMode }),
  }),
  z.object({ revision: z.number().int(), type: z.literal('connectClientUpserted'), payload: ConnectClient }),
  z.object({
    revision: z.number().int(),
    type: z.literal('connectClientRemoved'),
    payload: z.object({ clientProofKeyThumbprint: z.string() }),
  }),
]);
export type AccessEvent = z.infer<typeof AccessEvent>;
export type AccessEventType = AccessEvent['type'];

/**
 * `opening`: what a stream starts with when it does not resume: `snapshot` (default: the mode and
 * every active client, for the CLI's --watch) or `summary` (the mode and the counts).
 */
export const AccessEventsInput = z.object({ lastEventId: z.string().max(200).nullish(), opening: z.enum(['snapshot', 'summary']).optional() }).optional();

export const WhoAmI = z.object({
  environmentId: z.string(),
  clientProofKeyThumbprint: z.string(),
  scopes: z.array(z.string()),
  expiresAt: z.number().int(),
});
export type WhoAmI = z.infer<typeof WhoAmI>;

/** A device joining with an invite (SPEC §13): the proof is bound to the key it connects with. */
export const InvitePresentation = z.strictObject({
  inviteId: z.string().regex(/^inv_[A-Za-z0-9_-]{16,64}$/),
  proof: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
export type InvitePresentation = z.infer<typeof InvitePresentation>;

export const MAX_INVITE_SECONDS = 86_400;
export const InviteCreateInput = z.object({
  label: clientText(LABEL_MAX),
  expiresInSeconds: z.number().int().min(60).max(MAX_INVITE_SECONDS),
});
export const InviteCreated = z.object({ inviteId: z.string(), secret: z.string(), url: z.string(), expiresAt: IsoTime });
export type InviteCreated = z.infer<typeof InviteCreated>;
export const OpenInvite = z.object({ inviteId: z.string(), label: z.string().nullable(), createdAt: IsoTime, expiresAt: IsoTime });
export type OpenInvite = z.infer<typeof OpenInvite>;
export const InviteIdInput = z.object({ inviteId: z.string().min(1).max(128) });

/** Relay `environments.connect` input (SPEC §3 step 3). */
export const ConnectInput = z.object({
  invite: InvitePresentation.optional(),
  environmentId: z.string().min(1).max(128),
  clientProofKeyThumbprint: Thumbprint,
  deviceId: clientText(DEVICE_ID_MAX),
  client: ClientInfo.optional(),
  waitSeconds: z.number().int().min(0).max(25).optional(),
});
export type ConnectInput = z.input<typeof ConnectInput>;

export const ConnectResult = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('authorized'),
    environmentId: z.string(),
    endpoint: z.string(),
    credential: z.string(),
    expiresAt: z.number().int(),
  }),
  z.object({
    status: z.literal('pending_approval'),
    environmentId: z.string(),
    endpoint: z.string(),
    clientProofKeyThumbprint: z.string(),
    approvalStatus: z.enum(['pending', 'rejected']),
    requestedAt: IsoTime,
    retryAfterSeconds: z.number().int(),
  }),
]);
export type ConnectResult = z.infer<typeof ConnectResult>;

export { LOCKDOWN_INDEFINITE } from './lockdown';
/** `until` null: new devices are accepted. */
export const LockdownState = z.object({ until: IsoTime.nullable(), indefinite: z.boolean() });
export type LockdownState = z.infer<typeof LockdownState>;
export const LockdownInput = z.object({ until: z.iso.datetime().nullable() });

/** The environment's tunnel to its relay (SPEC §11), as `gatehouse connect status` and the owner see it. */
export const TunnelStatus = z.discriminatedUnion('state', [
  z.object({ state: z.literal('unlinked') }),
  z.object({ state: z.literal('disabled') }),
  z.object({ state: z.literal('stopped') }),
  z.object({ state: z.literal('connecting'), relayUrl: z.string(), attempt: z.number().int() }),
  z.object({ state: z.literal('connected'), relayUrl: z.string(), since: IsoTime, lastPingAnsweredAt: IsoTime }),
  z.object({ state: z.literal('offline'), relayUrl: z.string(), retryInMs: z.number().int(), retryAt: IsoTime, lastError: z.string() }),
]);
export type TunnelStatus = z.infer<typeof TunnelStatus>;

/** One line for people: what the tunnel is doing. */
export function describeTunnel(status: TunnelStatus): string {
  switch (status.state) {
    case 'connected':
      return `tunnel: connected to ${status.relayUrl} since ${status.since} (last PING answered ${status.lastPingAnsweredAt})`;
    case 'offline':
      return `tunnel: offline, retrying in ${status.retryInMs < 1000 ? `${status.retryInMs} ms` : `${Math.round(status.retryInMs / 1000)} s`} (last error: ${status.lastError})`;
    case 'connecting':
      return `tunnel: connecting to ${status.relayUrl}`;
    case 'unlinked':
      return 'tunnel: not linked to a relay';
    case 'disabled':
      return 'tunnel: off (reached only at its direct endpoint)';
    case 'stopped':
      return 'tunnel: stopped';
  }
}

// Webhooks (SPEC §14).
export const webhookEvents = ['client.pending', 'client.approved', 'client.rejected', 'client.revoked', 'mode.changed', 'flood.detected'] as const;
export const WebhookEvent = z.enum(webhookEvents);
export type WebhookEvent = z.infer<typeof WebhookEvent>;
export const webhookFormats = ['json', 'slack', 'discord'] as const;
export const WebhookFormat = z.enum(webhookFormats);
export type WebhookFormat = z.infer<typeof WebhookFormat>;
export const WebhookId = z.string().regex(/^wh_[A-Za-z0-9_-]{16,32}$/, 'not a webhook id');

export const WebhookCreateInput = z.object({
  url: z.string().min(1).max(2000),
  events: z.array(WebhookEvent).min(1).max(webhookEvents.length).refine((e) => new Set(e).size === e.length, 'events repeat'),
  format: WebhookFormat.default('json'),
});
export type WebhookCreateInput = z.input<typeof WebhookCreateInput>;
export const WebhookIdInput = z.object({ webhookId: WebhookId });

export const Webhook = z.object({
  webhookId: z.string(),
  url: z.string(),
  events: z.array(WebhookEvent),
  format: WebhookFormat,
  createdAt: IsoTime,
});
export type Webhook = z.infer<typeof Webhook>;
/** The secret is in this answer only. */
export const WebhookCreated = z.object({ webhookId: z.string(), secret: z.string(), webhook: Webhook });

export const WebhookDelivery = z.object({
  id: z.number().int(),
  messageId: z.string(),
  eventType: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  createdAt: IsoTime,
  nextAttemptAt: IsoTime.nullable(),
  lastAttemptAt: IsoTime.nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  deliveredAt: IsoTime.nullable(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** Paged client list (SPEC §13). A cursor is opaque: the previous page's `nextCursor`. */
export const CLIENT_PAGE_MAX = 500;
export const CLIENT_SEARCH_MAX = 100;
export const ClientListInput = z
  .object({
    cursor: z.string().min(1).max(400).optional(),
    limit: z.number().int().min(1).max(CLIENT_PAGE_MAX).optional(),
    status: ClientStatus.optional(),
    search: z.string().max(CLIENT_SEARCH_MAX).optional(),
  })
  .optional();
export type ClientListInput = z.infer<typeof ClientListInput>;
export const ClientCounts = z.object({ pending: z.number().int(), approved: z.number().int(), rejected: z.number().int() });
export type ClientCounts = z.infer<typeof ClientCounts>;
export const ClientPage = z.object({ items: z.array(ConnectClient), nextCursor: z.string().nullable(), counts: ClientCounts });
export type ClientPage = z.infer<typeof ClientPage>;
export const ClientCountsInput = z.object({ search: z.string().max(CLIENT_SEARCH_MAX).optional() }).optional();
/** "Reject all pending": every pending device, loaded on the page or not. */
export const RejectAllPendingResult = z.object({ rejected: z.number().int(), endedSessions: z.number().int() });

/** An owner-set name; null or only invisible characters clears it (the client's label shows again). */
export const RenameClientInput = z.object({ clientProofKeyThumbprint: Thumbprint, name: z.string().max(LABEL_MAX * 4).nullable() });

/** A device that holds live sessions now, in either mode (issue 17 item 6). `client` is null when it has no row (account mode). */
export const ConnectedDevice = z.object({
  clientProofKeyThumbprint: z.string(),
  verificationCode: z.string(),
  openSessions: z.number().int(),
  /** The newest of its latest session start and its last connection. */
  lastUsedAt: IsoTime,
  client: ConnectClient.nullable(),
});
export type ConnectedDevice = z.infer<typeof ConnectedDevice>;

/** What the details view shows beyond the row (issue 17 item 8). */
export const ClientDetails = z.object({
  client: ConnectClient,
  openSessions: z.number().int(),
  /** The address the relay saw on its latest request (the mint request's signed `source`). */
  lastSource: z.string().nullable(),
  /** The client software's version as it reported it; null when it did not. */
  software: z.string().nullable(),
});
export type ClientDetails = z.infer<typeof ClientDetails>;
export const EndSessionsResult = z.object({ endedSessions: z.number().int() });

export const ApproveConnectedInput = z.object({ clientProofKeyThumbprints: z.array(Thumbprint).min(1).max(500) });

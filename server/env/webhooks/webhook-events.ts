// What the audit log turns into webhook deliveries (SPEC §14). Enqueued inside the transaction that
// records the audit entry (a transactional outbox): a committed decision always has its deliveries,
// and a crash before commit leaves neither. The dispatcher sends them after commit.
import { and, eq, gt, sql } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import type { AuditActor, AuditRecord, WebhookEvent } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import type { EnvDb } from '../db/database';
import { connectClients, webhookDeliveries, webhooks } from '../db/schema';
import { toConnectClient } from '../connect/client-view';

/** Repeated `client.pending` of one device, and flood alerts, go out at most once per window. */
export const COLLAPSE_WINDOW_MS = 10 * 60 * 1000;
/** More new devices than this within the window is a flood: one `flood.detected` instead of a message each. */
export const PENDING_PER_WINDOW = 10;

/** The stored event: no token, credential or proof ever goes in (S61); the format is applied when sent. */
export interface WebhookEventBody {
  type: WebhookEvent | 'webhook.test';
  timestamp: string;
  data: Record<string, unknown>;
}

type AuditInput = AuditRecord & { actor: AuditActor; clientProofKeyThumbprint?: string | null };

function eventTypeOf(entry: AuditInput): WebhookEvent | null {
  switch (entry.action) {
    case 'client_requested':
    case 'client_account_changed':
      return 'client.pending';
    case 'client_approved':
      return 'client.approved';
    case 'client_rejected':
      return 'client.rejected';
    case 'client_revoked':
      return 'client.revoked';
    case 'security_mode_set':
      return entry.detail.from === entry.detail.to ? null : 'mode.changed';
    case 'pending_evicted':
      return 'flood.detected';
    default:
      return null;
  }
}

function clientData(db: EnvDb, thumbprint: string | null | undefined): Record<string, unknown> | null {
  if (!thumbprint) return null;
  const row = db.select().from(connectClients).where(eq(connectClients.clientProofKeyThumbprint, thumbprint)).get();
  if (!row) return null;
  const c = toConnectClient(row);
  return {
    clientProofKeyThumbprint: c.clientProofKeyThumbprint,
    name: c.name,
    label: c.client.label,
    deviceType: c.client.deviceType,
    os: c.client.os,
    accountId: c.accountId,
    status: c.status,
    verificationCode: c.verificationCode,
  };
}

function dataOf(db: EnvDb, entry: AuditInput, type: WebhookEvent): Record<string, unknown> | null {
  if (type === 'mode.changed' && entry.action === 'security_mode_set') return { from: entry.detail.from, to: entry.detail.to, actor: entry.actor };
  if (type === 'flood.detected' && entry.action === 'pending_evicted') return { reason: 'pending_cap', dropped: entry.detail.count };
  const client = clientData(db, entry.clientProofKeyThumbprint);
  return client ? { client, actor: entry.actor } : null;
}

const messageId = () => `msg_${randomBytes(16).toString('base64url')}`;

function insertDelivery(db: EnvDb, now: number, webhookId: string, body: WebhookEventBody, collapseKey: string | null): void {
  db.insert(webhookDeliveries)
    .values({ webhookId, messageId: messageId(), eventType: body.type, collapseKey, payload: JSON.stringify(body), createdAt: now, status: 'pending', attempts: 0, nextAttemptAt: now })
    .run();
}

function recentlyCollapsed(db: EnvDb, webhookId: string, collapseKey: string, now: number): boolean {
  return !!db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.collapseKey, collapseKey), gt(webhookDeliveries.createdAt, now - COLLAPSE_WINDOW_MS)))
    .get();
}

function pendingInWindow(db: EnvDb, webhookId: string, now: number): number {
  return (
    db
      .select({ n: sql<number>`count(*)` })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.eventType, 'client.pending'), gt(webhookDeliveries.createdAt, now - COLLAPSE_WINDOW_MS)))
      .get()?.n ?? 0
  );
}

/** Prepared once per database: this runs on the mint path for every new device (no SQL compiled per ask). */
const subscribers = new WeakMap<EnvDb, ReturnType<typeof prepareSubscribers>>();
const prepareSubscribers = (db: EnvDb) => db.select({ webhookId: webhooks.webhookId, events: webhooks.events }).from(webhooks).prepare();
function subscribersOf(db: EnvDb) {
  let q = subscribers.get(db);
  if (!q) subscribers.set(db, (q = prepareSubscribers(db)));
  return q;
}

/** Queues this audit entry's webhook event for every webhook subscribed to it, inside the caller's transaction. */
export function enqueueWebhookEvents(db: EnvDb, now: number, entry: AuditInput): void {
  const type = eventTypeOf(entry);
  if (!type) return;
  const hooks = subscribersOf(db).all();
  if (hooks.length === 0) return;
  const data = dataOf(db, entry, type);
  if (!data) return;
  const body: WebhookEventBody = { type, timestamp: isoTime(now), data };
  const flood: WebhookEventBody = { type: 'flood.detected', timestamp: isoTime(now), data: { reason: 'many_new_devices', windowMinutes: COLLAPSE_WINDOW_MS / 60_000 } };
  for (const hook of hooks) {
    const events = Array.isArray(hook.events) ? hook.events : [];
    if (type === 'flood.detected') {
      if (events.includes(type) && !recentlyCollapsed(db, hook.webhookId, 'flood', now)) insertDelivery(db, now, hook.webhookId, body, 'flood');
      continue;
    }
    if (!events.includes(type)) continue;
    if (type === 'client.pending') {
      const key = `client.pending:${entry.clientProofKeyThumbprint}`;
      if (recentlyCollapsed(db, hook.webhookId, key, now)) continue;
      if (pendingInWindow(db, hook.webhookId, now) >= PENDING_PER_WINDOW) {
        if (events.includes('flood.detected') && !recentlyCollapsed(db, hook.webhookId, 'flood', now)) insertDelivery(db, now, hook.webhookId, flood, 'flood');
        continue;
      }
      insertDelivery(db, now, hook.webhookId, body, key);
      continue;
    }
    insertDelivery(db, now, hook.webhookId, body, null);
  }
}

// Managing webhooks (SPEC §14): create (the secret is in that answer only), list, remove, a test
// delivery, and the delivery log.
import { desc, eq } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import type { AuditActor, Webhook, WebhookCreateInput, WebhookDelivery, WebhookEvent, WebhookFormat } from '../../../shared/contracts';
import { WebhookCreateInput as CreateInput, webhookEvents } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import { webhookDeliveries, webhooks } from '../db/schema';
import type { EnvDeps } from '../deps';
import { attemptDelivery, deliveryTime } from './webhook-delivery';
import type { WebhookEventBody } from './webhook-events';
import { newWebhookSecret, sealSecret } from './webhook-secrets';
import type { WebhookSettings } from './webhook-settings';
import { checkWebhookUrl } from './webhook-transport';

/** A handful is plenty for one owner; the cap keeps a stolen session from fanning out. */
export const MAX_WEBHOOKS = 20;
const LOG_PAGE = 50;

function settingsOf(deps: EnvDeps): WebhookSettings {
  if (!deps.webhooks) throw new DomainError('unavailable', 'internal', 'Webhooks are managed through the running environment; start it with `gatehouse start`.');
  return deps.webhooks;
}

type Row = typeof webhooks.$inferSelect;
const known = new Set<string>(webhookEvents);
const toWebhook = (row: Row): Webhook => ({
  webhookId: row.webhookId,
  url: row.url,
  // A stored row is data too: unknown names are dropped rather than failing the whole list.
  events: (Array.isArray(row.events) ? row.events : []).filter((e): e is WebhookEvent => known.has(e)),
  format: row.format as WebhookFormat,
  createdAt: row.createdAt,
});

const notFound = () => new DomainError('not_found', 'not_found', 'No webhook with that id.');

export function createWebhook(deps: EnvDeps, input: WebhookCreateInput, actor: AuditActor): { webhookId: string; secret: string; webhook: Webhook } {
  const settings = settingsOf(deps);
  const parsed = CreateInput.safeParse(input);
  if (!parsed.success) throw new DomainError('bad_request', 'invalid_input', `Invalid webhook: ${parsed.error.issues[0]?.message ?? 'bad input'}.`);
  const url = checkWebhookUrl(parsed.data.url, settings.allowPrivate);
  const webhookId = `wh_${randomBytes(12).toString('base64url')}`;
  const secret = newWebhookSecret();
  const now = deps.clock.now();
  const row = deps.db.transaction(
    (tx) => {
      const count = tx.select({ id: webhooks.webhookId }).from(webhooks).all().length;
      if (count >= MAX_WEBHOOKS) throw new DomainError('conflict', 'conflict', `At most ${MAX_WEBHOOKS} webhooks; remove one first.`);
      const inserted = tx
        .insert(webhooks)
        .values({ webhookId, url, events: parsed.data.events, format: parsed.data.format, sealedSecret: sealSecret(settings.sealKey, webhookId, secret), createdAt: isoTime(now) })
        .returning()
        .get();
      recordAudit(deps.db, now, { actor, action: 'webhook_created', detail: { webhookId, host: new URL(url).host } });
      return inserted;
    },
    { behavior: 'immediate' },
  );
  return { webhookId, secret, webhook: toWebhook(row) };
}

export function listWebhooks(deps: Pick<EnvDeps, 'db'>): Webhook[] {
  return deps.db.select().from(webhooks).orderBy(webhooks.createdAt).all().map(toWebhook);
}

export function removeWebhook(deps: EnvDeps, webhookId: string, actor: AuditActor): { removed: true } {
  const now = deps.clock.now();
  deps.db.transaction(
    (tx) => {
      const row = tx.delete(webhooks).where(eq(webhooks.webhookId, webhookId)).returning().get();
      if (!row) throw notFound();
      let host = '';
      try {
        host = new URL(row.url).host;
      } catch {
        host = '(unreadable)';
      }
      recordAudit(deps.db, now, { actor, action: 'webhook_removed', detail: { webhookId, host } });
    },
    { behavior: 'immediate' },
  );
  return { removed: true };
}

/** Sends one test message now (no retries) and says how it went; it shows in the log too. */
export async function testWebhook(deps: EnvDeps, webhookId: string): Promise<{ delivered: boolean; statusCode: number | null; error: string | null }> {
  const settings = settingsOf(deps);
  if (!deps.db.select({ id: webhooks.webhookId }).from(webhooks).where(eq(webhooks.webhookId, webhookId)).get()) throw notFound();
  const now = deps.clock.now();
  const body: WebhookEventBody = { type: 'webhook.test', timestamp: isoTime(now), data: {} };
  const { id } = deps.db
    .insert(webhookDeliveries)
    .values({ webhookId, messageId: `msg_${randomBytes(16).toString('base64url')}`, eventType: body.type, collapseKey: null, payload: JSON.stringify(body), createdAt: now, status: 'pending', attempts: 0, nextAttemptAt: null })
    .returning({ id: webhookDeliveries.id })
    .get();
  const result = await attemptDelivery(deps.db, deps.clock, settings, id, { retry: false });
  if (!result) throw notFound();
  return { delivered: result.error === null, statusCode: result.statusCode, error: result.error };
}

export function listDeliveries(deps: Pick<EnvDeps, 'db'>, webhookId: string): WebhookDelivery[] {
  if (!deps.db.select({ id: webhooks.webhookId }).from(webhooks).where(eq(webhooks.webhookId, webhookId)).get()) throw notFound();
  return deps.db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.webhookId, webhookId))
    .orderBy(desc(webhookDeliveries.id))
    .limit(LOG_PAGE)
    .all()
    .map((d) => ({
      id: d.id,
      messageId: d.messageId,
      eventType: d.eventType,
      status: d.status,
      attempts: d.attempts,
      createdAt: isoTime(d.createdAt),
      nextAttemptAt: deliveryTime(d.nextAttemptAt),
      lastAttemptAt: deliveryTime(d.lastAttemptAt),
      lastStatusCode: d.lastStatusCode,
      lastError: d.lastError,
      deliveredAt: deliveryTime(d.deliveredAt),
    }));
}

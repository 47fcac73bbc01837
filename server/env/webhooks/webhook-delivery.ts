// One attempt at one queued delivery: sign per Standard Webhooks (the `standardwebhooks` library,
// not hand-rolled HMAC), send, and record the outcome and the next attempt in the queue row.
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { isoTime } from '../../common/clock';
import type { EnvDb } from '../db/database';
import { webhookDeliveries, webhooks } from '../db/schema';
import type { Clock } from '../../common/clock';
import { renderWebhookBody } from './webhook-format';
import type { WebhookEventBody } from './webhook-events';
import { openSecret } from './webhook-secrets';
import type { WebhookSettings } from './webhook-settings';
import { sendWebhook, type AttemptResult } from './webhook-transport';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** The Standard Webhooks schedule, after the first attempt: the last retry comes about 17.6 h after the event, within a day. */
export const RETRY_DELAYS_MS = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** Attempts delivery `id` once and stores the outcome; a row that is gone or no longer pending is left alone. */
export async function attemptDelivery(db: EnvDb, clock: Clock, settings: WebhookSettings, id: number, opts: { retry?: boolean } = {}): Promise<AttemptResult | null> {
  const row = db
    .select({ d: webhookDeliveries, url: webhooks.url, format: webhooks.format, sealedSecret: webhooks.sealedSecret })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.webhookId, webhookDeliveries.webhookId))
    .where(eq(webhookDeliveries.id, id))
    .get();
  if (!row || row.d.status !== 'pending') return null;
  const secret = openSecret(settings.sealKey, row.d.webhookId, row.sealedSecret);
  let result: AttemptResult;
  if (!secret) {
    result = { statusCode: null, error: 'signing secret unreadable (wrong key file?): remove and add this webhook again' };
  } else {
    let event: WebhookEventBody | null = null;
    try {
      event = JSON.parse(row.d.payload) as WebhookEventBody;
    } catch {
      event = null;
    }
    if (!event || typeof event !== 'object' || typeof event.type !== 'string') {
      result = { statusCode: null, error: 'stored event unreadable' };
    } else {
      const body = renderWebhookBody(row.format, event, settings.publicUrl());
      const at = new Date(clock.now());
      const headers = {
        'webhook-id': row.d.messageId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(row.d.messageId, at, body),
      };
      result = await sendWebhook(row.url, body, headers, { allowPrivate: settings.allowPrivate, ...(settings.timeoutMs !== undefined && { timeoutMs: settings.timeoutMs }) });
    }
  }
  const now = clock.now();
  const attempts = row.d.attempts + 1;
  const ok = result.error === null;
  const retryable = !!secret && (opts.retry ?? true) && attempts < MAX_ATTEMPTS;
  db.update(webhookDeliveries)
    .set({
      attempts,
      lastAttemptAt: now,
      lastStatusCode: result.statusCode,
      lastError: result.error?.slice(0, 300) ?? null,
      status: ok ? 'delivered' : retryable ? 'pending' : 'failed',
      nextAttemptAt: ok || !retryable ? null : now + RETRY_DELAYS_MS[attempts - 1]!,
      deliveredAt: ok ? now : null,
    })
    .where(eq(webhookDeliveries.id, id))
    .run();
  return result;
}

export const deliveryTime = (ms: number | null): string | null => (ms === null ? null : isoTime(ms));

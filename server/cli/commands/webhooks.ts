// What `gatehouse connect webhooks …` does: calls the running environment (which holds the sealing
// key and sends the deliveries) over the typed tRPC client as actor `cli`.
import { WebhookEvent, WebhookFormat, WebhookId, type Webhook, type WebhookDelivery } from '../../../shared/contracts';
import { createOwnerClient, type OwnerClient } from '../../env/owner/owner-client';
import { findRunningEnv } from '../env-access';
import { CliError, EXIT, UsageError } from '../options';
import type { Output } from '../output';
import { fromTrpcError } from './security-target';
import { EVENT_NAMES } from './webhook-commands';

/** Echoed text stays one short line of printable characters (the top-level error printer cleans the rest). */
const oneLine = (text: string, max: number) => text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?').slice(0, max);

async function withEnv<T>(dataDir: string, call: (client: OwnerClient) => Promise<T>): Promise<T> {
  const running = await findRunningEnv(dataDir);
  if (!running) throw new CliError(`No running environment for ${dataDir}: webhooks are managed and sent by it. Start it with \`gatehouse start\` (or pass the --data-dir it runs on).`);
  try {
    return await call(createOwnerClient(running.url, running.adminToken, 'cli'));
  } catch (error) {
    throw fromTrpcError(error, running.url, dataDir);
  }
}

export async function runAdd(out: Output, opts: { dataDir: string; url: string; events?: string | undefined; format: string }): Promise<number> {
  const format = WebhookFormat.safeParse(opts.format);
  if (!format.success) throw new UsageError(`--format is one of json, slack, discord (not ${oneLine(JSON.stringify(opts.format), 60)}).`);
  const names = opts.events === undefined ? [...EVENT_NAMES] : opts.events.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = names.find((e) => !WebhookEvent.safeParse(e).success);
  if (bad !== undefined || names.length === 0) throw new UsageError(`--events is a comma-separated list of ${EVENT_NAMES.join(', ')}${bad ? ` (not ${oneLine(JSON.stringify(bad), 60)})` : ''}.`);
  const events = [...new Set(names)] as WebhookEvent[];
  const created = await withEnv(opts.dataDir, (c) => c.connect.webhooks.create.mutate({ url: opts.url, events, format: format.data }));
  out.data(created);
  out.line(`Added webhook ${created.webhookId} (${created.webhook.format}) for ${created.webhook.events.join(', ')}.`);
  out.line(`Signing secret (shown only now; verify deliveries with it): ${created.secret}`);
  out.line(`Try it: gatehouse connect webhooks test ${created.webhookId}`);
  return EXIT.ok;
}

const describe = (w: Webhook) => `${w.webhookId}  ${w.format.padEnd(7)}  ${w.events.join(',')}  ${oneLine(w.url, 120)}`;

export async function runList(out: Output, opts: { dataDir: string }): Promise<number> {
  const list = await withEnv(opts.dataDir, (c) => c.connect.webhooks.list.query());
  out.data(list);
  if (list.length === 0) out.line('No webhooks. Add one: gatehouse connect webhooks add <url> --format slack');
  for (const w of list) out.line(describe(w));
  return EXIT.ok;
}

const describeDelivery = (d: WebhookDelivery) =>
  `${d.createdAt}  ${d.eventType.padEnd(15)}  ${d.status.padEnd(9)}  attempts ${d.attempts}` +
  `${d.lastStatusCode !== null ? `  HTTP ${d.lastStatusCode}` : ''}${d.lastError ? `  (${oneLine(d.lastError, 120)})` : ''}${d.status === 'pending' && d.nextAttemptAt ? `  next ${d.nextAttemptAt}` : ''}`;

export async function runOne(out: Output, opts: { dataDir: string; webhookId: string; what: 'remove' | 'test' | 'deliveries' }): Promise<number> {
  if (!WebhookId.safeParse(opts.webhookId).success) throw new UsageError(`${oneLine(JSON.stringify(opts.webhookId), 80)} is not a webhook id: \`gatehouse connect webhooks list\` shows them (wh_…).`);
  const input = { webhookId: opts.webhookId };
  if (opts.what === 'remove') {
    out.data(await withEnv(opts.dataDir, (c) => c.connect.webhooks.remove.mutate(input)));
    out.line(`Removed webhook ${opts.webhookId}.`);
    return EXIT.ok;
  }
  if (opts.what === 'test') {
    out.note('Sending a test message…');
    const result = await withEnv(opts.dataDir, (c) => c.connect.webhooks.test.mutate(input));
    out.data(result);
    if (result.delivered) {
      out.line(`Delivered: the receiver answered ${result.statusCode}.`);
      return EXIT.ok;
    }
    out.line(`Not delivered: ${result.error ?? 'no answer'}. Check the URL, or the receiver's logs.`);
    return EXIT.failure;
  }
  const list = await withEnv(opts.dataDir, (c) => c.connect.webhooks.deliveries.query(input));
  out.data(list);
  if (list.length === 0) out.line('No deliveries yet.');
  for (const d of list) out.line(describeDelivery(d));
  return EXIT.ok;
}

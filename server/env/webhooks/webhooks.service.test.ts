import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../common/clock';
import { listAudit } from '../audit/audit.service';
import { approveClient, revokeClient } from '../connect/client-decisions.service';
import { requestClient } from '../connect/client-requests.service';
import { setSecurityMode } from '../connect/security-mode.service';
import { openEnvDatabase } from '../db/database';
import { webhookDeliveries, webhooks } from '../db/schema';
import type { EnvDeps } from '../deps';
import { AccessBus } from '../events/access-bus';
import { createTestDeps, fakeThumbprint, ownerContext } from '../testing';
import { envRouter } from '../trpc/app-router';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS } from './webhook-delivery';
import { createWebhookDispatcher } from './webhook-dispatcher';
import { COLLAPSE_WINDOW_MS, PENDING_PER_WINDOW } from './webhook-events';
import { startReceiver, type Received } from './webhook-receiver.testing';
import { sealSecret } from './webhook-secrets';
import type { WebhookSettings } from './webhook-settings';
import { createWebhook, listDeliveries, listWebhooks, removeWebhook, testWebhook } from './webhooks.service';

const T = fakeThumbprint(1);
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function settings(over: Partial<WebhookSettings> = {}): WebhookSettings {
  return { sealKey: randomBytes(32), allowPrivate: true, publicUrl: () => 'http://env.example', ...over };
}

async function setup(over: Partial<WebhookSettings> = {}) {
  const { deps, clock } = createTestDeps();
  deps.webhooks = settings(over);
  const receiver = await startReceiver();
  cleanups.push(receiver.close);
  const dispatcher = createWebhookDispatcher(deps, deps.webhooks);
  return { deps, clock, receiver, dispatcher };
}

const ask = (deps: EnvDeps, thumbprint = T, label = 'Laptop') =>
  requestClient(deps, { clientProofKeyThumbprint: thumbprint, accountId: 'owner', deviceId: 'dev-1', client: { label, deviceType: 'desktop', os: 'Linux' } });

/** Standard Webhooks verification written from the spec with node:crypto, not with the library that signed. */
function verifyIndependently(secret: string, r: Received): boolean {
  const id = String(r.headers['webhook-id']);
  const ts = String(r.headers['webhook-timestamp']);
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${r.body}`).digest();
  return String(r.headers['webhook-signature'])
    .split(' ')
    .some((part) => {
      const [version, sig] = part.split(',');
      const given = Buffer.from(sig ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

describe('webhooks (SPEC §14, S61)', () => {
  it('a waiting device reaches the receiver once, signed per Standard Webhooks, linked to its row, with no secret in any payload', async () => {
    const { deps, clock, receiver, dispatcher } = await setup();
    const { secret, webhookId } = createWebhook(deps, { url: receiver.url, events: ['client.pending', 'client.approved'], format: 'json' }, 'web');
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    ask(deps);
    expect(await dispatcher.runDue()).toBe(1);
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(verifyIndependently(secret, got)).toBe(true);
    expect(verifyIndependently(`whsec_${randomBytes(32).toString('base64')}`, got)).toBe(false);
    expect(verifyIndependently(secret, { ...got, body: got.body.replace('Laptop', 'Laptoq') })).toBe(false);
    expect(got.headers['webhook-id']).toMatch(/^msg_/);
    expect(Number(got.headers['webhook-timestamp'])).toBe(Math.floor(clock.now() / 1000));
    const body = JSON.parse(got.body);
    expect(body).toMatchObject({ type: 'client.pending', data: { client: { clientProofKeyThumbprint: T, label: 'Laptop', status: 'pending' } } });
    expect(body.link).toBe(`http://env.example/settings/connections#client-${T}`);

    approveClient(deps, T, 'web');
    await dispatcher.runDue();
    expect(JSON.parse(receiver.received[1]!.body)).toMatchObject({ type: 'client.approved', data: { actor: 'web', client: { status: 'approved' } } });
    // The secret, its base64 key and the admin-style tokens appear nowhere: not in bodies, not in the stored queue.
    const key = secret.slice('whsec_'.length);
    const stored = deps.db.select().from(webhookDeliveries).all().map((d) => d.payload);
    for (const text of [...receiver.received.map((r) => r.body), ...stored, JSON.stringify(listWebhooks(deps)), JSON.stringify(listDeliveries(deps, webhookId))]) {
      expect(text).not.toContain(key);
      expect(text).not.toMatch(/token|credential|proof"|dpop/i);
    }
    expect(deps.db.select().from(webhooks).get()!.sealedSecret).not.toContain(key);
    expect(listAudit(deps).map((a) => a.action)).toContain('webhook_created');
  });

  it('slack and discord bodies escape the device’s own label so it cannot mention anyone or forge a link', async () => {
    const { deps, receiver, dispatcher } = await setup();
    createWebhook(deps, { url: `${receiver.url}/slack`, events: ['client.pending'], format: 'slack' }, 'web');
    createWebhook(deps, { url: `${receiver.url}/discord`, events: ['client.pending'], format: 'discord' }, 'web');
    ask(deps, T, '<!channel> @everyone <https://evil.example|click>');
    expect(await dispatcher.runDue()).toBe(2);
    const slack = JSON.parse(receiver.received.find((r) => r.path.endsWith('/slack'))!.body);
    const discord = JSON.parse(receiver.received.find((r) => r.path.endsWith('/discord'))!.body);
    expect(slack.text).toContain('&lt;!channel&gt;');
    expect(slack.text).not.toContain('<!channel>');
    expect(slack.text).not.toContain('<https://evil.example');
    expect(slack.text).toContain(`<http://env.example/settings/connections#client-${T}|Open in Gatehouse>`);
    expect(slack.blocks[0].text.type).toBe('mrkdwn');
    expect(discord.allowed_mentions).toEqual({ parse: [] });
    expect(discord.content).not.toMatch(/(^|[^\\])@everyone/);
    expect(discord.content).toContain('\\@everyone');
    expect(discord.content).toContain(`http://env.example/settings/connections#client-${T}`);
  });

  it('retries a failing receiver on the schedule of the injected clock, logs each status, then gives up', async () => {
    const { deps, clock, receiver, dispatcher } = await setup();
    const { webhookId } = createWebhook(deps, { url: receiver.url, events: ['client.pending'], format: 'json' }, 'web');
    receiver.answerWith(503);
    ask(deps);
    expect(await dispatcher.runDue()).toBe(1);
    for (const delay of RETRY_DELAYS_MS) {
      clock.advance(delay - 1);
      expect(await dispatcher.runDue()).toBe(0);
      clock.advance(1);
      expect(await dispatcher.runDue()).toBe(1);
    }
    clock.advance(48 * 60 * 60 * 1000);
    expect(await dispatcher.runDue()).toBe(0);
    expect(receiver.received).toHaveLength(MAX_ATTEMPTS);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const [log] = listDeliveries(deps, webhookId);
    expect(log).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, lastStatusCode: 503, lastError: 'answered 503', nextAttemptAt: null });
    expect(RETRY_DELAYS_MS.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(24 * 60 * 60 * 1000);
  });

  it('a restart in the middle of the retries loses nothing: the queue is the database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhooks-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'env.sqlite');
    const clock = manualClock();
    const s = settings();
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const first: EnvDeps = { db: openEnvDatabase(file), bus: new AccessBus(), clock, webhooks: s };
    const { secret } = createWebhook(first, { url: receiver.url, events: ['client.pending'], format: 'json' }, 'web');
    receiver.answerWith(500);
    ask(first);
    await createWebhookDispatcher(first, s).runDue();
    first.db.$client.close();

    receiver.answerWith(200);
    const second: EnvDeps = { db: openEnvDatabase(file), bus: new AccessBus(), clock, webhooks: s };
    cleanups.push(() => second.db.$client.close());
    const dispatcher = createWebhookDispatcher(second, s);
    expect(await dispatcher.runDue()).toBe(0);
    clock.advance(RETRY_DELAYS_MS[0]);
    expect(await dispatcher.runDue()).toBe(1);
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
    expect(verifyIndependently(secret, receiver.received[1]!)).toBe(true);
    expect(second.db.select().from(webhookDeliveries).get()).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200 });
  });

  it('repeated pending of one device collapses to one per 10 minutes; a burst of new devices becomes one flood alert', async () => {
    const { deps, clock, receiver, dispatcher } = await setup();
    createWebhook(deps, { url: receiver.url, events: ['client.pending', 'flood.detected'], format: 'json' }, 'web');
    ask(deps);
    revokeClient(deps, T, 'web');
    ask(deps);
    await dispatcher.runDue();
    expect(receiver.received.filter((r) => JSON.parse(r.body).type === 'client.pending')).toHaveLength(1);
    clock.advance(COLLAPSE_WINDOW_MS);
    revokeClient(deps, T, 'web');
    ask(deps);
    await dispatcher.runDue();
    expect(receiver.received).toHaveLength(2);

    clock.advance(COLLAPSE_WINDOW_MS);
    for (let i = 100; i < 100 + PENDING_PER_WINDOW + 20; i++) ask(deps, fakeThumbprint(i));
    await dispatcher.runDue();
    const types = receiver.received.slice(2).map((r) => JSON.parse(r.body).type);
    expect(types.filter((t) => t === 'client.pending')).toHaveLength(PENDING_PER_WINDOW);
    expect(types.filter((t) => t === 'flood.detected')).toHaveLength(1);
  });

  it('mode changes go to subscribers only, and unsubscribed events queue nothing', async () => {
    const { deps, receiver, dispatcher } = await setup();
    createWebhook(deps, { url: receiver.url, events: ['mode.changed'], format: 'json' }, 'web');
    ask(deps);
    setSecurityMode(deps, 'client-approval', 'cli');
    setSecurityMode(deps, 'client-approval', 'cli');
    await dispatcher.runDue();
    expect(receiver.received.map((r) => JSON.parse(r.body))).toMatchObject([{ type: 'mode.changed', data: { to: 'client-approval', actor: 'cli' } }]);
  });

  it('refuses private, loopback, link-local and unique-local targets unless allowed, and malformed URLs', async () => {
    const { deps } = await setup({ allowPrivate: false });
    for (const url of [
      'http://127.0.0.1:9/x',
      'http://localhost/x',
      'http://localhost./x',
      'http://app.localhost/x',
      'http://[::1]/x',
      'http://[fe80::1]/x',
      'http://[fd00::1]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.1/',
      'http://192.168.1.1/',
      'http://0.0.0.0/',
      'https://user:pw@hooks.example/x',
      'https://hooks.example/x#frag',
      'ftp://hooks.example/x',
      'file:///etc/passwd',
      'not a url',
    ]) {
      expect(() => createWebhook(deps, { url, events: ['client.pending'], format: 'json' }, 'web'), url).toThrow(expect.objectContaining({ reason: 'endpoint_not_allowed' }));
    }
    expect(() => createWebhook(deps, { url: `https://hooks.example/${'a'.repeat(2100)}`, events: ['client.pending'], format: 'json' }, 'web')).toThrow(expect.objectContaining({ reason: 'invalid_input' }));
    expect(listWebhooks(deps)).toEqual([]);
    expect(createWebhook(deps, { url: 'https://hooks.slack.com/services/T0/B0/xyz', events: ['client.pending'], format: 'slack' }, 'web').webhook.url).toBe('https://hooks.slack.com/services/T0/B0/xyz');
  });

  it('checks the address actually dialled: a name that resolves to loopback is refused at connect time', async () => {
    const { deps, receiver, dispatcher } = await setup({ allowPrivate: true });
    // `vm` resolves to 127.0.0.1 through /etc/hosts: allowed while the flag is on, refused once it is off.
    const { webhookId } = createWebhook(deps, { url: `http://localhost:${receiver.port}/hook`, events: ['client.pending'], format: 'json' }, 'web');
    deps.db.update(webhooks).set({ url: `http://vm:${receiver.port}/hook` }).where(eq(webhooks.webhookId, webhookId)).run();
    deps.webhooks!.allowPrivate = false;
    ask(deps);
    await dispatcher.runDue();
    expect(receiver.received).toHaveLength(0);
    expect(listDeliveries(deps, webhookId)[0]).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null, lastError: 'address not allowed' });
  });

  it('follows no redirect: a 302 counts as a failure and the other address hears nothing', async () => {
    const { deps, receiver, dispatcher } = await setup();
    const other = await startReceiver();
    cleanups.push(other.close);
    const { webhookId } = createWebhook(deps, { url: receiver.url, events: ['client.pending'], format: 'json' }, 'web');
    receiver.answerWith(302, { location: other.url });
    ask(deps);
    await dispatcher.runDue();
    expect(other.received).toHaveLength(0);
    expect(listDeliveries(deps, webhookId)[0]).toMatchObject({ status: 'pending', lastStatusCode: 302, lastError: 'redirect 302 not followed' });
  });

  it('a tampered or moved sealed secret sends nothing, and a dump without the key file cannot open it', async () => {
    const { deps, receiver, dispatcher } = await setup();
    const a = createWebhook(deps, { url: receiver.url, events: ['client.pending'], format: 'json' }, 'web');
    const b = createWebhook(deps, { url: receiver.url, events: ['client.pending'], format: 'json' }, 'web');
    // Moving b's sealed secret onto a (the AAD binds it to its webhook id) and sealing with another key both fail.
    const sealedB = deps.db.select().from(webhooks).where(eq(webhooks.webhookId, b.webhookId)).get()!.sealedSecret;
    deps.db.update(webhooks).set({ sealedSecret: sealedB }).where(eq(webhooks.webhookId, a.webhookId)).run();
    deps.db.update(webhooks).set({ sealedSecret: sealSecret(randomBytes(32), b.webhookId, b.secret) }).where(eq(webhooks.webhookId, b.webhookId)).run();
    ask(deps);
    await dispatcher.runDue();
    expect(receiver.received).toHaveLength(0);
    for (const id of [a.webhookId, b.webhookId]) expect(listDeliveries(deps, id)[0]).toMatchObject({ status: 'failed', lastError: expect.stringContaining('secret unreadable') });
  });

  it('test sends one signed message now and says how it went; remove ends deliveries and is audited', async () => {
    const { deps, receiver } = await setup();
    const { webhookId, secret } = createWebhook(deps, { url: receiver.url, events: ['client.pending'], format: 'json' }, 'web');
    expect(await testWebhook(deps, webhookId)).toEqual({ delivered: true, statusCode: 204, error: null });
    expect(verifyIndependently(secret, receiver.received[0]!)).toBe(true);
    receiver.answerWith(404);
    expect(await testWebhook(deps, webhookId)).toEqual({ delivered: false, statusCode: 404, error: 'answered 404' });
    expect(listDeliveries(deps, webhookId).map((d) => [d.eventType, d.status, d.lastStatusCode])).toEqual([
      ['webhook.test', 'failed', 404],
      ['webhook.test', 'delivered', 204],
    ]);
    removeWebhook(deps, webhookId, 'cli');
    expect(listWebhooks(deps)).toEqual([]);
    expect(deps.db.select().from(webhookDeliveries).all()).toEqual([]);
    expect(listAudit(deps)[0]).toMatchObject({ action: 'webhook_removed', actor: 'cli', detail: { webhookId, host: `127.0.0.1:${receiver.port}` } });
  });

  it('through the router: bad input is a clean BAD_REQUEST, unknown ids NOT_FOUND, and the secret is in the create answer only', async () => {
    const { deps, receiver } = await setup();
    const caller = envRouter.createCaller(ownerContext(deps));
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'OK',
        (e: unknown) => (e instanceof TRPCError ? e.code : 'THROWN'),
      );
    for (const bad of [
      { url: receiver.url, events: [], format: 'json' },
      { url: receiver.url, events: ['client.exploded'], format: 'json' },
      { url: receiver.url, events: ['client.pending', 'client.pending'], format: 'json' },
      { url: receiver.url, events: ['client.pending'], format: 'xml' },
      { url: 'x'.repeat(5000), events: ['client.pending'], format: 'json' },
      { url: 42, events: ['client.pending'] },
    ]) {
      expect(await code(caller.connect.webhooks.create(bad as never))).toBe('BAD_REQUEST');
    }
    expect(await code(caller.connect.webhooks.remove({ webhookId: 'wh_AAAAAAAAAAAAAAAAAAAA' }))).toBe('NOT_FOUND');
    expect(await code(caller.connect.webhooks.deliveries({ webhookId: '../../etc' }))).toBe('BAD_REQUEST');
    const created = await caller.connect.webhooks.create({ url: receiver.url, events: ['client.pending'], format: 'discord' });
    expect(created.secret).toMatch(/^whsec_/);
    expect(JSON.stringify(await caller.connect.webhooks.list())).not.toContain(created.secret.slice(6));
    expect(await caller.connect.webhooks.test({ webhookId: created.webhookId })).toMatchObject({ delivered: true });
    // A stored row with unreadable events still lists.
    deps.db.$client.prepare(`UPDATE webhooks SET events = '{"not":"a list"}'`).run();
    expect((await caller.connect.webhooks.list())[0]!.events).toEqual([]);
    // Without the runtime settings (an offline database), managing webhooks says where to do it.
    const offline = envRouter.createCaller(ownerContext({ ...deps, webhooks: undefined }));
    await expect(offline.connect.webhooks.create({ url: receiver.url, events: ['client.pending'], format: 'json' })).rejects.toThrow(/running environment/);
  });
});

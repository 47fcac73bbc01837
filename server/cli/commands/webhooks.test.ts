// `gatehouse connect webhooks …` as child processes against a running environment (actor `cli`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../env/audit/audit.service';
import { startEnvironment, type EnvRuntime } from '../../env/env-app';
import { startReceiver } from '../../env/webhooks/webhook-receiver.testing';
import { writeRuntimeInfo } from '../runtime-file';
import { runCli } from './cli-testing';

let env: EnvRuntime;
let dir: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhooks-cli-'));
  env = await startEnvironment({ dataDir: dir, port: 0, tunnel: false, allowPrivateWebhooks: true });
  writeRuntimeInfo(dir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId });
  receiver = await startReceiver();
});
afterAll(async () => {
  await env.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('connect webhooks with a running environment', { timeout: 90_000 }, () => {
  it('adds (secret shown once), lists without the secret, tests, shows deliveries and removes', async () => {
    const added = await cli('connect', 'webhooks', 'add', receiver.url, '--format', 'slack', '--events', 'client.pending,flood.detected', '--json');
    expect(added.code).toBe(0);
    const { webhookId, secret } = JSON.parse(added.stdout) as { webhookId: string; secret: string };
    expect(secret).toMatch(/^whsec_/);
    const list = await cli('connect', 'webhooks', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(webhookId);
    expect(list.stdout).toContain('slack');
    expect(list.stdout).not.toContain(secret.slice(6));

    const test = await cli('connect', 'webhooks', 'test', webhookId);
    expect(test).toMatchObject({ code: 0, stdout: 'Delivered: the receiver answered 204.\n' });
    expect(JSON.parse(receiver.received[0]!.body).text).toContain('Test message');
    const log = await cli('connect', 'webhooks', 'deliveries', webhookId);
    expect(log.stdout).toMatch(/webhook\.test\s+delivered\s+attempts 1\s+HTTP 204/);

    expect(await cli('connect', 'webhooks', 'remove', webhookId)).toMatchObject({ code: 0, stdout: `Removed webhook ${webhookId}.\n` });
    expect(listAudit(env.deps).slice(0, 2).map((a) => [a.actor, a.action])).toEqual([
      ['cli', 'webhook_removed'],
      ['cli', 'webhook_created'],
    ]);
  });

  it('bad input gets a clear error and the next step, never a stack', async () => {
    const badEvent = await cli('connect', 'webhooks', 'add', receiver.url, '--events', 'client.exploded');
    expect(badEvent.code).toBe(2);
    expect(badEvent.stderr).toContain('--events is a comma-separated list of client.pending');
    const badFormat = await cli('connect', 'webhooks', 'add', receiver.url, '--format', 'xml');
    expect(badFormat.code).toBe(2);
    // As an environment started without --allow-private-webhooks.
    env.deps.webhooks!.allowPrivate = false;
    const refused = await cli('connect', 'webhooks', 'add', 'http://169.254.169.254/latest').finally(() => (env.deps.webhooks!.allowPrivate = true));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not allowed: private, loopback/);
    const unknown = await cli('connect', 'webhooks', 'remove', 'wh_AAAAAAAAAAAAAAAAAAAA');
    expect(unknown.code).toBe(3);
    expect((await cli('connect', 'webhooks', 'test', 'nope')).stderr).toContain('is not a webhook id');
    for (const r of [badEvent, badFormat, refused, unknown]) expect(r.stderr).not.toMatch(/\n\s+at /);
    const stopped = await runCli(['connect', 'webhooks', 'list', '--data-dir', join(dir, 'nowhere')]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('No running environment');
  });
});

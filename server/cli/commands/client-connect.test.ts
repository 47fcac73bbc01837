// `gatehouse client connect --id-token`: a device on another machine signs in with its own account
// token (the dev issuer answers only callers on the relay's machine), through the tunnel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../testing/stack';
import { gatehouseSoftware } from '../../../shared/software';
import { runCli } from './cli-testing';

let stack: Stack;
let dir: string;
beforeAll(async () => {
  stack = await startStack();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-client-cli-'));
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('client connect --id-token', { timeout: 60_000 }, () => {
  it('uses the given account token, not the dev issuer, and connects through the tunnel', async () => {
    const token = await stack.idToken('owner');
    // --account names an account the environment is not linked for: only the token can let it in.
    const result = await runCli(['client', 'connect', '--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--id-token', token, '--account', 'mallory', '--data-dir', dir]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain(`Connected to ${stack.env.environmentId} at ${stack.relay.publicUrl}/e/${stack.env.environmentId}.`);
  });

  it('a token of another account is refused with the configuration reason', async () => {
    const token = await stack.idToken('mallory');
    const result = await runCli(['client', 'connect', '--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--id-token', token, '--data-dir', dir]);
    expect(result.code).not.toBe(0);
    expect(result.stderr + result.stdout).toContain('not linked to your account');
  });

  it('reports its software at connect; the owner sees it in the details view (issue 17 item 8)', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    try {
      const token = await stack.idToken('owner');
      const own = mkdtempSync(join(tmpdir(), 'gatehouse-client-software-'));
      const result = await runCli(['client', 'connect', '--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--id-token', token, '--no-wait', '--data-dir', own, '--json']);
      rmSync(own, { recursive: true, force: true });
      expect(result.code).not.toBe(0); // pending: it answers at once without waiting
      const [pending] = (await stack.owner.connect.clients.list.query({ status: 'pending' })).items;
      expect(pending).toBeDefined();
      expect(await stack.owner.connect.clients.details.query({ clientProofKeyThumbprint: pending!.clientProofKeyThumbprint })).toMatchObject({ software: gatehouseSoftware('cli') });
    } finally {
      await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    }
  });
});

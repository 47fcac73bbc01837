// `gatehouse client connect --id-token`: a device on another machine signs in with its own account
// token (the dev issuer answers only callers on the relay's machine), through the tunnel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../testing/stack';
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
});

// `gatehouse connect invite create|list|revoke` and `gatehouse client connect --invite URL`, through the tunnel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../testing/stack';
import { sessionFileOf } from '../account-session';
import { writeSecretFile } from '../../common/files';
import { runCli } from './cli-testing';

let stack: Stack;
let dir: string;
beforeAll(async () => {
  stack = await startStack();
  await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-invite-cli-'));
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

const owner = (...args: string[]) => runCli([...args, '--data-dir', stack.env.dataDir]);

describe('connect invite and client connect --invite', { timeout: 90_000 }, () => {
  it('creates an invite with a URL and a terminal QR code; a device joins with it at once; a second device is refused; list and revoke', async () => {
    const created = await owner('connect', 'invite', 'create', '--label', 'for the kitchen', '--for', '10m');
    expect(created.code).toBe(0);
    const url = /^(http\S+\/device#invite=\S+)$/m.exec(created.stdout)?.[1];
    expect(url).toBeDefined();
    expect(created.stdout).toMatch(/one device, until \S+ \(10 minutes\)/);
    expect(created.stdout).toMatch(/[▀▄█]{10,}/); // the QR code, in half-block characters

    const joined = await runCli(['client', 'connect', '--account', 'owner', '--invite', url!, '--no-wait', '--data-dir', join(dir, 'ipad')]);
    expect(joined).toMatchObject({ code: 0 });
    expect(joined.stdout).toContain(`Connected to ${stack.env.environmentId} at ${stack.relay.publicUrl}/e/${stack.env.environmentId}.`);

    const second = await runCli(['client', 'connect', '--account', 'owner', '--invite', url!, '--no-wait', '--data-dir', join(dir, 'other')]);
    expect(second.code).toBe(4);
    expect(second.stdout + second.stderr).toContain('This invite cannot be used');

    const broken = await runCli(['client', 'connect', '--account', 'owner', '--invite', url!.split('#')[0]!, '--no-wait', '--data-dir', join(dir, 'other')]);
    expect(broken).toMatchObject({ code: 2, stderr: expect.stringContaining('This invite URL is incomplete') });

    const another = JSON.parse((await owner('connect', 'invite', 'create', '--json')).stdout) as { inviteId: string };
    const list = await owner('connect', 'invite', 'list');
    expect(list.stdout).toContain(`${another.inviteId}  (no label)  until`);
    expect(list.stdout).not.toContain('for the kitchen'); // used: no longer open
    expect(await owner('connect', 'invite', 'revoke', another.inviteId)).toMatchObject({ code: 0, stdout: `Revoked invite ${another.inviteId}: it can no longer be used.\n` });
    expect(await owner('connect', 'invite', 'revoke', another.inviteId)).toMatchObject({ code: 3 });
    expect(await owner('connect', 'invite', 'create', '--for', '25h')).toMatchObject({ code: 2 });
  });
});

describe('client rotate-key', { timeout: 90_000 }, () => {
  it('moves an approved machine to a new key that connects without a new approval; the old key file is replaced', async () => {
    const machine = join(dir, 'laptop');
    const url = JSON.parse((await owner('connect', 'invite', 'create', '--json')).stdout).url as string;
    expect(await runCli(['client', 'connect', '--account', 'owner', '--invite', url, '--no-wait', '--data-dir', machine])).toMatchObject({ code: 0 });
    const { readFileSync } = await import('node:fs');
    const before = readFileSync(join(machine, 'client-key.json'), 'utf8');
    const rotated = await runCli(['client', 'rotate-key', '--account', 'owner', '--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--data-dir', machine]);
    expect(rotated).toMatchObject({ code: 0 });
    const newThumbprint = /new key (\S+);/.exec(rotated.stdout)?.[1];
    expect(newThumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(join(machine, 'client-key.json'), 'utf8')).not.toBe(before);
    const again = await runCli(['client', 'connect', '--account', 'owner', '--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--no-wait', '--data-dir', machine]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain(`Client        ${newThumbprint}`);
    const [entry] = await stack.owner.connect.audit.list.query({ limit: 1 });
    expect(entry).toMatchObject({ actor: 'client', action: 'client_key_rotated', detail: { newThumbprint } });
  });
});

describe('client approvals / client approve from an approver machine', { timeout: 90_000 }, () => {
  it('lists pending devices with their codes and approves one for a time; a plain device is told it is not an approver', async () => {
    const machine = join(dir, 'approver');
    const url = JSON.parse((await owner('connect', 'invite', 'create', '--json')).stdout).url as string;
    const joined = await runCli(['client', 'connect', '--account', 'owner', '--invite', url, '--no-wait', '--data-dir', machine, '--json']);
    const me = (JSON.parse(joined.stdout.trim().split('\n').at(-1)!) as { clientProofKeyThumbprint?: string; whoami?: { clientProofKeyThumbprint: string } });
    const thumbprint = me.whoami?.clientProofKeyThumbprint ?? me.clientProofKeyThumbprint!;
    const args = ['--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--data-dir', machine];
    // Like `client connect`, the approver commands sign in with this machine's `gatehouse login`, not as a default dev account.
    expect(await runCli(['client', 'approvals', ...args])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`Not signed in to ${stack.relay.publicUrl}'s account issuer. Run: npx gatehouse login --relay ${stack.relay.publicUrl}`),
    });
    const idToken = await stack.idToken('owner');
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as { iss: string; aud: string; exp: number; sub: string };
    writeSecretFile(sessionFileOf(machine), JSON.stringify({ relayUrl: stack.relay.publicUrl, issuer: claims.iss, clientId: claims.aud, idToken, expiresAt: claims.exp, subject: claims.sub }));
    expect(await runCli(['client', 'approvals', ...args])).toMatchObject({ code: 1, stderr: expect.stringContaining('This device is not an approver') });
    await stack.owner.connect.clients.setApprover.mutate({ clientProofKeyThumbprint: thumbprint, approver: true });
    const newcomer = await stack.newSigner();
    await stack.connect(newcomer, { wait: false }).catch(() => {});
    const listed = await runCli(['client', 'approvals', ...args]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(newcomer.thumbprint);
    expect(await runCli(['client', 'approve', newcomer.thumbprint.slice(0, 10), '--for', '8d', ...args])).toMatchObject({ code: 2 });
    const approved = await runCli(['client', 'approve', newcomer.thumbprint.slice(0, 10), '--for', '8h', ...args]);
    expect(approved).toMatchObject({ code: 0, stdout: expect.stringContaining(`Approved ${newcomer.thumbprint}`) });
    const row = (await stack.owner.connect.clients.list.query()).items.find((c) => c.clientProofKeyThumbprint === newcomer.thumbprint);
    expect(row).toMatchObject({ status: 'approved', approvalExpiresAt: expect.any(String) });
  });
});

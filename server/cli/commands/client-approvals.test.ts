// `gatehouse client approvals --watch` from an approver machine, through the relay: a line per device
// when it starts waiting and when it is decided, with time, name and code, never repeated by re-asks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectClient } from '../../../shared/contracts';
import { startStack, type Stack } from '../../testing/stack';
import { createApproverWatchPrinter } from './client-approvals';
import { runCli, startCli } from './cli-testing';

const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';

describe('the --watch printer', () => {
  const device = (t: string, label: string): ConnectClient =>
    ({ clientProofKeyThumbprint: t, verificationCode: 'ABCD-EFGH', name: null, client: { label, deviceType: 'tablet', os: null }, status: 'pending' }) as unknown as ConnectClient;
  it('prints a waiting device once, however often it re-asks or the stream reconnects, then its decision once', () => {
    const lines = createApproverWatchPrinter(() => Date.parse('2026-12-02T08:00:00Z'));
    const ipad = device('t'.repeat(43), 'Kitchen iPad\u202e');
    expect(lines({ type: 'snapshot', pending: [] })).toEqual(['2026-12-02T08:00:00Z  No devices are waiting for approval.']);
    expect(lines({ type: 'pending', client: ipad })).toEqual([`2026-12-02T08:00:00Z  waiting   "Kitchen iPad?" (code ABCD-EFGH)  ${'t'.repeat(43)}`]);
    expect(lines({ type: 'pending', client: ipad })).toEqual([]);
    expect(lines({ type: 'snapshot', pending: [ipad] })).toEqual([]);
    expect(lines({ type: 'decided', clientProofKeyThumbprint: ipad.clientProofKeyThumbprint, outcome: 'approved' })).toEqual([`2026-12-02T08:00:00Z  approved  "Kitchen iPad?" (code ABCD-EFGH)  ${'t'.repeat(43)}`]);
    expect(lines({ type: 'decided', clientProofKeyThumbprint: ipad.clientProofKeyThumbprint, outcome: 'approved' })).toEqual([]);
  });
});

let stack: Stack;
let dir: string;
beforeAll(async () => {
  stack = await startStack();
  await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-approvals-cli-'));
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('client approvals --watch', { timeout: 90_000 }, () => {
  it('shows a newcomer as it asks and its approval as it happens; ends with exit 1 when the owner takes the right away', async () => {
    const machine = join(dir, 'phone');
    const url = JSON.parse((await runCli(['connect', 'invite', 'create', '--json', '--data-dir', stack.env.dataDir])).stdout).url as string;
    const joined = await runCli(['client', 'connect', '--account', 'owner', '--invite', url, '--no-wait', '--data-dir', machine, '--json']);
    const me = JSON.parse(joined.stdout.trim().split('\n').at(-1)!) as { clientProofKeyThumbprint?: string; whoami?: { clientProofKeyThumbprint: string } };
    const thumbprint = me.whoami?.clientProofKeyThumbprint ?? me.clientProofKeyThumbprint!;
    await stack.owner.connect.clients.setApprover.mutate({ clientProofKeyThumbprint: thumbprint, approver: true });

    const watch = startCli(['client', 'approvals', '--watch', '--account', 'owner', '--environment', stack.env.environmentId, '--relay', stack.relay.publicUrl, '--data-dir', machine]);
    expect(await watch.waitForLine(() => true)).toMatch(new RegExp(`^${TIME}  No devices are waiting for approval\\.$`));
    const newcomer = await stack.newSigner();
    const ask = () => stack.connect(newcomer, { wait: false, client: { label: 'Kitchen iPad', deviceType: 'tablet' } }).catch(() => undefined);
    await ask();
    const waiting = await watch.waitForLine((l) => l.includes(newcomer.thumbprint));
    expect(waiting).toMatch(new RegExp(`^${TIME}  waiting   "Kitchen iPad" \\(code [2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}\\)  ${newcomer.thumbprint.replace(/[-]/g, '\\-')}$`));
    // It asks again (as a long-poll does): no second line. The owner approves: one line.
    await ask();
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: newcomer.thumbprint });
    expect(await watch.waitForLine((l) => l.includes('  approved  '))).toContain(newcomer.thumbprint);
    expect(watch.lines.filter((l) => l.includes(newcomer.thumbprint))).toHaveLength(2);

    await stack.owner.connect.clients.setApprover.mutate({ clientProofKeyThumbprint: thumbprint, approver: false });
    const result = await watch.exited;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no longer an approver');
  });
});

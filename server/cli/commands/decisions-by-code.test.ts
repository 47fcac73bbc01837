// Issue 17 item 16, as child processes against a running environment: decisions by verification
// code (exactly one candidate, else a clear error), echoing the device's name and code; and
// `--watch` lines that carry a time and the name and stay quiet while a waiting device re-asks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent, ConnectClient } from '../../../shared/contracts';
import { manualClock } from '../../common/clock';
import { findActiveClient } from '../../env/connect/clients.service';
import { approveClient } from '../../env/connect/client-decisions.service';
import { verificationCodeOf } from '../../env/connect/client-view';
import { startEnvironment, type EnvRuntime } from '../../env/env-app';
import { writeRuntimeInfo } from '../runtime-file';
import { runCli, seedClient, seedSession, startCli, thumbprintWith } from './cli-testing';
import { normalizeCode, resolveByCode } from './security';
import type { SecurityTarget } from './security-target';

let env: EnvRuntime;
let dir: string;
// Re-asks within a second are folded into one event (S44): the test moves time on by hand.
const clock = manualClock(Date.now());
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);
const statusOf = (t: string) => findActiveClient(env.deps.db, t)?.status;
const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-decisions-cli-'));
  env = await startEnvironment({ dataDir: dir, port: 0, clock });
  writeRuntimeInfo(dir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId });
});
afterAll(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('decisions by verification code', { timeout: 90_000 }, () => {
  it('approve and reject --code pick the one pending client with that code; revoke --code any active one', async () => {
    const [a, r, v] = ['CodeApprove', 'CodeReject', 'CodeRevoke'].map(thumbprintWith) as [string, string, string];
    seedClient(env.deps, a, { label: 'Kitchen iPad', deviceType: 'tablet' });
    seedClient(env.deps, r, { label: 'Unknown laptop' });
    seedClient(env.deps, v, { label: 'Old phone' });
    approveClient(env.deps, v, 'api');
    seedSession(env.deps, v);
    const [approved, rejected, revoked] = await Promise.all([
      cli('connect', 'security', 'approve', '--code', verificationCodeOf(a).toLowerCase()),
      cli('connect', 'security', 'reject', '--code', verificationCodeOf(r).replace('-', ' ')),
      cli('connect', 'security', 'revoke', '--code', verificationCodeOf(v)),
    ]);
    expect(approved).toEqual({ code: 0, stdout: `Approved Connect client "Kitchen iPad" (code ${verificationCodeOf(a)}, ${a}).\n`, stderr: '' });
    expect(rejected).toEqual({ code: 0, stdout: `Rejected Connect client "Unknown laptop" (code ${verificationCodeOf(r)}, ${r}).\nEnded 0 client sessions.\n`, stderr: '' });
    expect(revoked).toEqual({ code: 0, stdout: `Revoked Connect client "Old phone" (code ${verificationCodeOf(v)}, ${v}).\nEnded 1 client session.\n`, stderr: '' });
    expect([statusOf(a), statusOf(r), statusOf(v)]).toEqual(['approved', 'rejected', undefined]);
  });

  it('a code no pending client shows, a malformed code, or a code and a thumbprint together change nothing', async () => {
    const t = thumbprintWith('CodeApproved');
    seedClient(env.deps, t, { label: 'Desk PC' });
    approveClient(env.deps, t, 'api');
    const [notPending, malformed, both, neither] = await Promise.all([
      cli('connect', 'security', 'reject', '--code', verificationCodeOf(t)),
      cli('connect', 'security', 'approve', '--code', 'ABCD-EFG1'),
      cli('connect', 'security', 'approve', t, '--code', verificationCodeOf(t)),
      cli('connect', 'security', 'revoke'),
    ]);
    expect(notPending).toEqual({
      code: 3,
      stdout: '',
      stderr: `gatehouse: No pending Connect client shows the code ${verificationCodeOf(t)}. Check the code on the device, or list them with \`npx gatehouse connect security clients\`.\n`,
    });
    expect(malformed).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('"ABCD-EFG1" is not a verification code') });
    expect(both).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('its thumbprint (or 8+ characters of it), or --code XXXX-XXXX — one of the two.') });
    expect(neither).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('Say which client to revoke') });
    expect(statusOf(t)).toBe('approved');
  });

  it('two pending clients showing one code: refused, both listed, nothing decided', async () => {
    // 40-bit codes rarely collide; the rule is checked against a target that holds such a pair.
    const twin = (t: string, label: string) => ({ clientProofKeyThumbprint: thumbprintWith(t), status: 'pending', verificationCode: 'K7QM-2XWD', client: { label, deviceType: 'mobile', os: null } }) as ConnectClient;
    const decided: string[] = [];
    const target = { listClients: async () => [twin('TwinOne', 'Phone A'), twin('TwinTwo', 'Phone B')], approve: async (t: string) => void decided.push(t) } as unknown as SecurityTarget;
    await expect(resolveByCode(target, 'k7qm2xwd', 'approve')).rejects.toThrow(
      `2 pending Connect clients show the code K7QM-2XWD: ${thumbprintWith('TwinOne')} (pending, Phone A, K7QM-2XWD), ${thumbprintWith('TwinTwo')} (pending, Phone B, K7QM-2XWD). Give the thumbprint instead.`,
    );
    expect(decided).toEqual([]);
    expect(normalizeCode(' k7qm-2xwd ')).toBe('K7QM-2XWD');
    for (const bad of ['K7QM-2XW', 'K7QM-2XWDD', 'K7QM-2XW0', 'K7QM-2XWI', '']) expect(() => normalizeCode(bad)).toThrow(/is not a verification code/);
  });
});

describe('clients --watch', { timeout: 90_000 }, () => {
  it('prints a timed, named line per change of state, and nothing for re-asks that change nothing', async () => {
    const t = thumbprintWith('WatchReasks');
    const jsonWatch = startCli(['connect', 'security', 'clients', '--watch', '--json', '--data-dir', dir]);
    const humanWatch = startCli(['connect', 'security', 'clients', '--watch', '--data-dir', dir]);
    await Promise.all([jsonWatch.waitForLine(() => true), humanWatch.waitForLine((l) => l.includes('  snapshot  '))]);
    const upsertsOf = (status: string) => jsonWatch.lines.filter((l) => {
      const e = JSON.parse(l) as AccessEvent;
      return e.type === 'connectClientUpserted' && e.payload.clientProofKeyThumbprint === t && e.payload.status === status;
    });

    // A waiting device asks, then re-asks twice (as its long-poll ends every ~25 s).
    for (let ask = 0; ask < 3; ask++) {
      seedClient(env.deps, t, { label: 'Garden tablet', deviceType: 'tablet' });
      await jsonWatch.waitForLine(() => upsertsOf('pending').length === ask + 1);
      clock.advance(2_000);
    }
    expect(await cli('connect', 'security', 'approve', '--code', verificationCodeOf(t))).toMatchObject({ code: 0 });
    await jsonWatch.waitForLine(() => upsertsOf('approved').length === 1);
    const approvedLine = await humanWatch.waitForLine((l) => l.includes(t) && l.includes('  approved  '));

    expect(approvedLine).toMatch(new RegExp(`^${TIME}  approved  "Garden tablet" \\(code ${verificationCodeOf(t)}\\)  tablet, approved (just now|\\d+s ago), not connected yet  ${t}$`));
    const mine = humanWatch.lines.filter((l) => l.includes(t));
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatch(new RegExp(`^${TIME}  pending   "Garden tablet" \\(code ${verificationCodeOf(t)}\\)  tablet, requested (just now|\\d+s ago)  ${t}$`));
    // The JSON stream keeps every event (3 asks and the approval); only the text skips repeats.
    expect(upsertsOf('pending')).toHaveLength(3);

    const [jsonResult, humanResult] = await Promise.all([jsonWatch.interrupt(), humanWatch.interrupt()]);
    expect([jsonResult.code, humanResult.code]).toEqual([0, 0]);
  });
});

// `gatehouse connect security approve <t> --for 24h` (SPEC §13): an approval with a lifetime, and
// every malformed duration refused before anything changes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../env/audit/audit.service';
import { findActiveClient } from '../../env/connect/clients.service';
import { startEnvironment } from '../../env/env-app';
import { openEnvOffline } from '../env-access';
import { runCli, seedClient, thumbprintWith } from './cli-testing';

let dir: string;
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);
const T = thumbprintWith('LifeTime');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-lifetime-'));
  const env = await startEnvironment({ dataDir: dir, port: 0 });
  seedClient(env.deps, T, { label: 'Tablet' });
  await env.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('connect security approve --for', { timeout: 90_000 }, () => {
  it('refuses durations out of range or malformed, changing nothing', async () => {
    for (const bad of ['31d', '0m', 'soon', '24', '1w', '-1h']) {
      const res = await cli('connect', 'security', 'approve', T, `--for=${bad}`);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(`--for takes a duration like 1h, 8h, 24h, 7d or 30d`);
      expect(res.stderr).toContain(`not "${bad}"`);
    }
    const env = await openEnvOffline(dir);
    expect(findActiveClient(env.deps.db, T)?.status).toBe('pending');
    env.close();
  });

  it('approves until a time, says until when, and a listing shows it', async () => {
    const before = Date.now();
    const res = await cli('connect', 'security', 'approve', T.slice(0, 8), '--for', '24h');
    expect(res.code).toBe(0);
    // The device by name and code (the echo every decision gives), then until when.
    expect(res.stdout).toMatch(new RegExp(`^Approved Connect client ".+" \\(code [A-Z0-9]{4}-[A-Z0-9]{4}, ${T}\\) until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(24 hours\\); then it asks again\\.\\n$`));
    const env = await openEnvOffline(dir);
    const row = findActiveClient(env.deps.db, T)!;
    expect(row.status).toBe('approved');
    const until = Date.parse(row.approvalExpiresAt!);
    expect(until - before).toBeGreaterThanOrEqual(86_400_000);
    expect(until - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(listAudit(env.deps)[0]).toMatchObject({ actor: 'cli', action: 'client_approved', detail: { approvedUntil: row.approvalExpiresAt } });
    env.close();
    const list = await cli('connect', 'security', 'clients');
    expect(list.stdout).toContain(`approved until ${row.approvalExpiresAt}`);
  });
});

describe('connect pause', { timeout: 90_000 }, () => {
  it('shows, pauses for a time or until turned off, refuses bad durations, and turns it off', async () => {
    expect(await cli('connect', 'pause')).toMatchObject({ code: 0, stdout: 'New devices may ask to connect.\n' });
    const timed = await cli('connect', 'pause', '--for', '15m', '--json');
    expect(timed.code).toBe(0);
    const state = JSON.parse(timed.stdout) as { until: string; indefinite: boolean };
    expect(state.indefinite).toBe(false);
    expect(Math.abs(Date.parse(state.until) - Date.now() - 15 * 60_000)).toBeLessThan(60_000);
    expect(await cli('connect', 'pause')).toMatchObject({ code: 0, stdout: `New devices are paused until ${state.until}.\n` });
    for (const bad of ['0m', '31d', 'later']) expect(await cli('connect', 'pause', '--for', bad)).toMatchObject({ code: 2 });
    expect(await cli('connect', 'pause', '--for', '1h', '--off')).toMatchObject({ code: 2, stderr: expect.stringContaining('--for and --off contradict each other') });
    expect(await cli('connect', 'pause', '--for', 'forever')).toMatchObject({ code: 0, stdout: 'New devices are paused until you turn it off (gatehouse connect pause --off).\n' });
    expect(await cli('connect', 'pause', '--off')).toMatchObject({ code: 0, stdout: 'New devices may ask to connect.\n' });
    const env = await openEnvOffline(dir);
    expect(listAudit(env.deps).filter((a) => a.action === 'lockdown_set').map((a) => [a.actor, a.detail])).toEqual([
      ['cli', { until: null }],
      ['cli', { until: '9999-12-31T23:59:59.999Z' }],
      ['cli', { until: state.until }],
    ]);
    env.close();
  });
});

describe('connect security approver', { timeout: 90_000 }, () => {
  it('makes an approved device an approver and takes it back; a pending one cannot be', async () => {
    const env0 = await openEnvOffline(dir);
    seedClient(env0.deps, thumbprintWith('Approver'), { label: 'Phone' });
    env0.close();
    const t = thumbprintWith('Approver');
    expect(await cli('connect', 'security', 'approver', t)).toMatchObject({ code: 3 });
    expect(await cli('connect', 'security', 'approve', t)).toMatchObject({ code: 0 });
    expect(await cli('connect', 'security', 'approver', t.slice(0, 8))).toMatchObject({ code: 0, stdout: expect.stringContaining('is now an approver') });
    let env = await openEnvOffline(dir);
    expect(findActiveClient(env.deps.db, t)?.approver).toBe(true);
    env.close();
    expect(await cli('connect', 'security', 'approver', t, '--off')).toMatchObject({ code: 0, stdout: `${t} is no longer an approver.\n` });
    env = await openEnvOffline(dir);
    expect(findActiveClient(env.deps.db, t)?.approver).toBe(false);
    expect(listAudit(env.deps).filter((a) => a.action === 'approver_set').map((a) => a.detail)).toEqual([{ approver: false }, { approver: true }]);
    env.close();
  });
});

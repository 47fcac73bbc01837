// `gatehouse connect security …` as child processes with no environment running: the same services
// act on the database directly, and every command says so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEntry } from '../../../shared/contracts';
import { listAudit } from '../../env/audit/audit.service';
import { findActiveClient, listClients } from '../../env/connect/clients.service';
import { verificationCodeOf } from '../../env/connect/client-view';
import { getSecurityMode } from '../../env/connect/security-mode.service';
import { startEnvironment } from '../../env/env-app';
import { openEnvOffline, type OfflineEnv } from '../env-access';
import { clearRuntimeInfo, writeRuntimeInfo } from '../runtime-file';
import { corruptSecurityMode, runCli, seedClient, seedSession, thumbprintWith } from './cli-testing';

const READ_NOTE = 'No running environment; read the database directly.\n';
const WRITE_NOTE = 'No running environment; changed the database directly.\n';

let dir: string;
let stoppedUrl: string;
let environmentId: string;
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);

/** The stopped environment's database, opened for the length of `use`. */
async function withDb<T>(use: (env: OfflineEnv) => T): Promise<T> {
  const env = await openEnvOffline(dir);
  try {
    return use(env);
  } finally {
    env.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-security-offline-'));
  const env = await startEnvironment({ dataDir: dir, port: 0 });
  stoppedUrl = env.publicUrl;
  environmentId = env.environmentId;
  await env.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Each test spawns several CLI processes (node + tsx, 1–4 s each depending on load).
describe('connect security with no running environment', { timeout: 90_000 }, () => {
  it('reads and sets the mode in the database and says so; an unreadable mode says how to reset it', async () => {
    expect(await cli('connect', 'security')).toEqual({ code: 0, stdout: 'Connect uses account-wide access.\n', stderr: READ_NOTE });
    expect(await cli('connect', 'security', '--mode', 'client-approval', '--json')).toEqual({ code: 0, stdout: '{"mode":"client-approval","endedSessions":0}\n', stderr: WRITE_NOTE });
    await withDb(({ deps }) => {
      expect(getSecurityMode(deps.db)).toBe('client-approval');
      expect(listAudit(deps)[0]).toMatchObject({ actor: 'cli', action: 'security_mode_set', detail: { from: 'account', to: 'client-approval' } });
      corruptSecurityMode(deps, 'wide-open');
    });

    const broken = await cli('connect', 'security');
    expect(broken).toEqual({
      code: 1,
      stdout: '',
      stderr:
        READ_NOTE +
        'gatehouse: The stored Connect security mode "wide-open" is not a known mode. Reset it with `npx gatehouse connect security --mode client-approval` (or `--mode account`), or with the recovery buttons on the settings page.\n',
    });
    expect(await cli('connect', 'security', '--mode', 'client-approval')).toEqual({ code: 0, stdout: 'Connect client approval is required.\n', stderr: WRITE_NOTE });
    await withDb(({ deps }) => expect(listAudit(deps)[0]).toMatchObject({ actor: 'cli', detail: { from: null, to: 'client-approval' } }));
  });

  it('lists clients from the database, in human lines and JSON', async () => {
    const t = thumbprintWith('OfflineList');
    await withDb(({ deps }) => seedClient(deps, t, { label: 'Desk PC', os: 'Windows', deviceType: 'desktop' }));
    const [human, json] = await Promise.all([cli('connect', 'security', 'clients'), cli('connect', 'security', 'clients', '--json')]);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe(READ_NOTE);
    expect(human.stdout).toMatch(new RegExp(`^${t}  pending   Desk PC +${verificationCodeOf(t)}  desktop, Windows, requested (just now|\\d+s ago)$`, 'm'));
    expect(json).toMatchObject({ code: 0, stderr: READ_NOTE });
    expect(JSON.parse(json.stdout)).toEqual({ clients: await withDb(({ deps }) => listClients(deps)) });
  });

  it('approves, rejects and revokes in the database, by prefix, saying how many sessions ended', async () => {
    const [a, r, v, vj] = ['OfflineApprove', 'OfflineReject', 'OfflineRevoke', 'OfflineJsonRevoke'].map(thumbprintWith) as [string, string, string, string];
    await withDb(({ deps }) => {
      for (const t of [a, r, v, vj]) seedClient(deps, t);
      seedSession(deps, r);
      seedSession(deps, v);
    });
    const [approved, rejected, revoked, revokedJson] = await Promise.all([
      cli('connect', 'security', 'approve', a.slice(0, 9)),
      cli('connect', 'security', 'reject', r, '--json'),
      cli('connect', 'security', 'revoke', v.slice(0, 13)),
      cli('connect', 'security', 'revoke', vj, '--json'),
    ]);
    expect(approved).toEqual({ code: 0, stdout: `Approved Connect client "Client OfflineA" (code ${verificationCodeOf(a)}, ${a}).\n`, stderr: WRITE_NOTE });
    expect(rejected).toMatchObject({ code: 0, stderr: WRITE_NOTE });
    expect(JSON.parse(rejected.stdout)).toEqual({ client: expect.objectContaining({ clientProofKeyThumbprint: r, status: 'rejected' }), endedSessions: 1 });
    expect(revoked).toEqual({ code: 0, stdout: `Revoked Connect client "Client OfflineR" (code ${verificationCodeOf(v)}, ${v}).\nEnded 1 client session.\n`, stderr: WRITE_NOTE });
    expect(revokedJson).toEqual({ code: 0, stdout: '{"revoked":true,"endedSessions":0}\n', stderr: WRITE_NOTE });
    await withDb(({ deps }) => {
      expect([a, r, v, vj].map((t) => findActiveClient(deps.db, t)?.status)).toEqual(['approved', 'rejected', undefined, undefined]);
      expect(listAudit(deps).filter((e) => e.action === 'client_revoked').map((e) => e.actor)).toEqual(['cli', 'cli']);
    });

    // A revoked client is gone: deciding on it again is "not found".
    expect(await cli('connect', 'security', 'approve', v)).toEqual({ code: 3, stdout: '', stderr: `gatehouse: No active Connect client found for ${v}.\n` });
  });

  it('usage mistakes exit 2, unknown clients 3, and --watch explains that it needs a running environment', async () => {
    await withDb(({ deps }) => {
      seedClient(deps, thumbprintWith('TwinPrefix1'));
      seedClient(deps, thumbprintWith('TwinPrefix2'));
    });
    const [unknown, ambiguous, notThumbprint, badMode, missing, watch, noData] = await Promise.all([
      cli('connect', 'security', 'reject', 'Unknown1'),
      cli('connect', 'security', 'revoke', 'TwinPrefix'),
      cli('connect', 'security', 'approve', 'not/a/thumbprint'),
      cli('connect', 'security', '--mode', 'open'),
      cli('connect', 'security', 'approve'),
      cli('connect', 'security', 'clients', '--watch'),
      runCli(['connect', 'security', 'clients', '--data-dir', join(dir, 'nothing-here')]),
    ]);
    expect(unknown).toEqual({ code: 3, stdout: '', stderr: 'gatehouse: No active Connect client found for Unknown1.\n' });
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain(`"TwinPrefix" matches 2 Connect clients: ${thumbprintWith('TwinPrefix1')} (pending, Client TwinPref, ${verificationCodeOf(thumbprintWith('TwinPrefix1'))}), ${thumbprintWith('TwinPrefix2')} (pending, Client TwinPref, ${verificationCodeOf(thumbprintWith('TwinPrefix2'))}). Give more characters`);
    expect(notThumbprint).toMatchObject({ code: 2, stderr: expect.stringContaining('"not/a/thumbprint" is not a thumbprint') });
    expect(badMode).toMatchObject({ code: 2, stderr: expect.stringContaining("argument 'open' is invalid. Allowed choices are account, client-approval.") });
    expect(missing).toMatchObject({ code: 2, stderr: 'gatehouse: Say which client to approve: its thumbprint (or 8+ characters of it), or --code XXXX-XXXX — one of the two.\n' });
    expect(watch).toEqual({
      code: 1,
      stdout: '',
      stderr: `gatehouse: --watch needs a running environment, and none is recorded in ${dir}. Start it with \`npx gatehouse start\` (or \`npx gatehouse env start\`), or pass the --data-dir it runs on.\n`,
    });
    expect(noData).toMatchObject({ code: 1, stderr: expect.stringMatching(/^gatehouse: No environment data in .*nothing-here\. Start one with/) });

    // A runtime file left behind by an environment that no longer answers: --watch names the URL it tried.
    writeRuntimeInfo(dir, { pid: process.pid, url: stoppedUrl, environmentId });
    try {
      const stale = await cli('connect', 'security', 'clients', '--watch', '--json');
      expect(stale).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining(`--watch needs a running environment, and none answered at ${stoppedUrl}.`) });
    } finally {
      clearRuntimeInfo(dir);
    }
  });

  it('help reads like a product: every command and flag explained', async () => {
    const [top, security, approve] = await Promise.all([runCli(['--help']), runCli(['connect', 'security', '--help']), runCli(['connect', 'security', 'approve', '--help'])]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Let your own devices into your own machine, and nobody else.');
    expect(top.stdout).toContain('npx gatehouse connect security clients --watch');
    expect(security.code).toBe(0);
    for (const text of ['--mode <mode>', '--json', '--data-dir <dir>', 'clients [options]', 'approve [options] [thumbprint]', 'reject [options] [thumbprint]', 'revoke [options] [thumbprint]', 'approve --code K7QM-2XWD']) {
      expect(security.stdout).toContain(text);
    }
    expect(approve.stdout).toContain('a unique prefix of at least 8');
    expect(approve.stdout).toContain('--code <XXXX-XXXX>');
  });

  it('prints the audit log from its typed details, newest first, and as JSON', async () => {
    const human = await cli('connect', 'security', 'audit', '--limit', '100');
    expect(human).toMatchObject({ code: 0, stderr: READ_NOTE });
    expect(human.stdout).toMatch(/^\S+Z {2}CLI {12}Changed the security mode from account access to client approval$/m);
    const json = await cli('connect', 'security', 'audit', '--json', '--limit', '100');
    const { entries } = JSON.parse(json.stdout) as { entries: unknown[] };
    expect(entries.length).toBeGreaterThan(1);
    expect(entries.filter((e) => !AuditEntry.safeParse(e).success)).toEqual([]);
    expect(await cli('connect', 'security', 'audit', '--limit', '0')).toMatchObject({ code: 2 });
  });
});

// `gatehouse connect security …` as child processes against a running environment: every change
// goes through its tRPC API as actor `cli`, so the audit log and every open page see it live.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { listAudit } from '../../env/audit/audit.service';
import { findActiveClient, listClients } from '../../env/connect/clients.service';
import { approveClient } from '../../env/connect/client-decisions.service';
import { verificationCodeOf } from '../../env/connect/client-view';
import { getSecurityMode, setSecurityMode } from '../../env/connect/security-mode.service';
import { startEnvironment, type EnvRuntime } from '../../env/env-app';
import { writeRuntimeInfo } from '../runtime-file';
import { corruptSecurityMode, runCli, seedClient, seedSession, startCli, thumbprintWith } from './cli-testing';

let env: EnvRuntime;
let dir: string;
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);
/** Relative times: a loaded machine may take a few seconds between seeding and printing. */
const RECENT = '(just now|\\d+s ago)';
/** A --watch line's time: ISO-8601 UTC to the second. */
const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
const statusOf = (t: string) => findActiveClient(env.deps.db, t)?.status;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-security-cli-'));
  env = await startEnvironment({ dataDir: dir, port: 0 });
  writeRuntimeInfo(dir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId });
});
afterAll(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each test spawns several CLI processes (node + tsx, 1–4 s each depending on load).
describe('connect security with a running environment', { timeout: 90_000 }, () => {
  it('shows and sets the mode through the environment as the CLI; an unreadable mode says how to reset it', async () => {
    const events: AccessEvent[] = [];
    const stop = env.deps.bus.subscribe((e) => events.push(e));
    const [human, json] = await Promise.all([cli('connect', 'security'), cli('connect', 'security', '--json')]);
    expect(human).toEqual({ code: 0, stdout: 'Connect uses account-wide access.\n', stderr: '' });
    expect(json).toEqual({ code: 0, stdout: '{"mode":"account"}\n', stderr: '' });

    expect(await cli('connect', 'security', '--mode', 'client-approval')).toEqual({ code: 0, stdout: 'Connect client approval is required.\n', stderr: '' });
    expect(getSecurityMode(env.deps.db)).toBe('client-approval');
    expect(listAudit(env.deps)[0]).toMatchObject({ actor: 'cli', action: 'security_mode_set', detail: { from: 'account', to: 'client-approval' } });
    // It went through the running server: its bus (and so every open page) saw the change.
    expect(events).toContainEqual(expect.objectContaining({ type: 'connectSecurityModeUpdated', payload: { mode: 'client-approval' } }));
    stop();

    corruptSecurityMode(env.deps, 'open-to-all');
    const broken = await cli('connect', 'security', '--json');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toBe('');
    expect(broken.stderr).toBe(
      'gatehouse: The stored Connect security mode "open-to-all" is not a known mode. Reset it with `npx gatehouse connect security --mode client-approval` (or `--mode account`), or with the recovery buttons on the settings page.\n',
    );
    expect(await cli('connect', 'security', '--mode', 'account', '--json')).toEqual({ code: 0, stdout: '{"mode":"account","endedSessions":0}\n', stderr: '' });
    expect(listAudit(env.deps)[0]).toMatchObject({ actor: 'cli', detail: { from: null, to: 'account' } });
  });

  it('lists clients pending first: thumbprint, status, title, verification code, details', async () => {
    const labelled = thumbprintWith('ListLabelled');
    const osOnly = thumbprintWith('ListOsOnly');
    const bare = thumbprintWith('ListBare');
    seedClient(env.deps, labelled, { label: 'Work laptop', os: 'Linux', deviceType: 'desktop' });
    seedClient(env.deps, osOnly, { os: 'iOS', deviceType: 'mobile' });
    seedClient(env.deps, bare);
    approveClient(env.deps, labelled, 'api');

    const [human, json] = await Promise.all([cli('connect', 'security', 'clients'), cli('connect', 'security', 'clients', '--json')]);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe('');
    const lines = human.stdout.trimEnd().split('\n');
    const lineOf = (t: string) => lines.find((l) => l.startsWith(t)) ?? '';
    expect(lineOf(labelled)).toMatch(new RegExp(`^${labelled}  approved  Work laptop +${verificationCodeOf(labelled)}  desktop, Linux, approved ${RECENT}, not connected yet$`));
    expect(lineOf(osOnly)).toMatch(new RegExp(`^${osOnly}  pending   iOS +${verificationCodeOf(osOnly)}  mobile, iOS, requested ${RECENT}$`));
    expect(lineOf(bare)).toMatch(new RegExp(`^${bare}  pending   Client ListBare +${verificationCodeOf(bare)}  unknown, requested ${RECENT}$`));
    expect(lines.indexOf(lineOf(labelled))).toBeGreaterThan(lines.findLastIndex((l) => l.includes('  pending  ')));

    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ clients: listClients(env.deps) });
  });

  it('approves, rejects and revokes by full thumbprint or unique prefix, saying how many sessions ended', async () => {
    const [a, r, v, aj, rj, vj] = ['DecideApprove', 'DecideReject', 'DecideRevoke', 'DecideJsonApprove', 'DecideJsonReject', 'DecideJsonRevoke'].map(thumbprintWith) as [string, string, string, string, string, string];
    for (const t of [a, r, v, aj, rj, vj]) seedClient(env.deps, t, { label: 'Phone' });
    seedSession(env.deps, r);
    seedSession(env.deps, r);
    seedSession(env.deps, v);
    seedSession(env.deps, rj);

    const results = await Promise.all([
      cli('connect', 'security', 'approve', a.slice(0, 8 + 'Approve'.length)),
      cli('connect', 'security', 'reject', r.slice(0, 13)),
      cli('connect', 'security', 'revoke', v),
      cli('connect', 'security', 'approve', aj, '--json'),
      cli('connect', 'security', 'reject', rj.slice(0, 17), '--json'),
      cli('connect', 'security', 'revoke', vj, '--json'),
    ]);
    expect(results.slice(0, 3)).toEqual([
      { code: 0, stdout: `Approved Connect client "Phone" (code ${verificationCodeOf(a)}, ${a}).\n`, stderr: '' },
      { code: 0, stdout: `Rejected Connect client "Phone" (code ${verificationCodeOf(r)}, ${r}).\nEnded 2 client sessions.\n`, stderr: '' },
      { code: 0, stdout: `Revoked Connect client "Phone" (code ${verificationCodeOf(v)}, ${v}).\nEnded 1 client session.\n`, stderr: '' },
    ]);
    const [approved, rejected, revoked] = results.slice(3).map((res) => (expect(res.code).toBe(0), JSON.parse(res.stdout)));
    expect(approved).toEqual({ client: expect.objectContaining({ clientProofKeyThumbprint: aj, status: 'approved', approvedAt: expect.any(String) }), endedSessions: 0 });
    expect(rejected).toEqual({ client: expect.objectContaining({ clientProofKeyThumbprint: rj, status: 'rejected', rejectedAt: expect.any(String) }), endedSessions: 1 });
    expect(revoked).toEqual({ revoked: true, endedSessions: 0 });

    expect([a, r, v, aj, rj, vj].map(statusOf)).toEqual(['approved', 'rejected', undefined, 'approved', 'rejected', undefined]);
    const audited = listAudit(env.deps, { limit: 20 }).filter((e) => e.clientProofKeyThumbprint?.startsWith('Decide') && e.action !== 'client_requested');
    expect(audited).toHaveLength(6);
    expect(audited.every((e) => e.actor === 'cli')).toBe(true);
  });

  it('an unknown client exits 3; an ambiguous or too-short prefix exits 2 and changes nothing', async () => {
    const a = thumbprintWith('AmbiguousA');
    const b = thumbprintWith('AmbiguousB');
    seedClient(env.deps, a, { label: 'Tablet' });
    seedClient(env.deps, b);
    const [unknown, ambiguous, short] = await Promise.all([
      cli('connect', 'security', 'approve', 'NoSuchClient'),
      cli('connect', 'security', 'approve', 'Ambiguous'),
      cli('connect', 'security', 'revoke', 'Ambig'),
    ]);
    expect(unknown).toEqual({ code: 3, stdout: '', stderr: 'gatehouse: No active Connect client found for NoSuchClient.\n' });
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stdout).toBe('');
    expect(ambiguous.stderr).toMatch(/^gatehouse: "Ambiguous" matches 2 Connect clients: .+\. Give more characters of the thumbprint\.\n$/);
    expect(ambiguous.stderr).toContain(`${a} (pending, Tablet, ${verificationCodeOf(a)})`);
    expect(ambiguous.stderr).toContain(`${b} (pending, Client Ambiguou, ${verificationCodeOf(b)})`);
    expect(short).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: "Ambig" is too short: give at least 8 characters of the thumbprint (see `npx gatehouse connect security clients`), or --code XXXX-XXXX.\n' });
    expect([statusOf(a), statusOf(b)]).toEqual(['pending', 'pending']);
  });

  it('--watch prints the snapshot, then an approval made from another process as it happens, until SIGINT', async () => {
    const t = thumbprintWith('Watched');
    seedClient(env.deps, t, { label: 'New tablet', deviceType: 'tablet' });
    const jsonWatch = startCli(['connect', 'security', 'clients', '--watch', '--json', '--data-dir', dir]);
    const humanWatch = startCli(['connect', 'security', 'clients', '--watch', '--data-dir', dir]);
    const [firstJson, firstHuman] = await Promise.all([jsonWatch.waitForLine(() => true), humanWatch.waitForLine(() => true)]);
    const snapshot = JSON.parse(firstJson) as AccessEvent;
    expect(snapshot.type).toBe('snapshot');
    if (snapshot.type === 'snapshot') expect(snapshot.payload.connectClients).toContainEqual(expect.objectContaining({ clientProofKeyThumbprint: t, status: 'pending' }));
    expect(firstHuman).toMatch(new RegExp(`^${TIME}  snapshot  Connect uses account-wide access\\. \\d+ clients\\.$`));
    expect(await humanWatch.waitForLine((l) => l.startsWith(`  ${t}`))).toMatch(new RegExp(`^  ${t}  pending   New tablet +${verificationCodeOf(t)}  tablet, requested ${RECENT}$`));

    expect(await cli('connect', 'security', 'approve', t.slice(0, 8))).toMatchObject({ code: 0 });
    const approvedLine = await jsonWatch.waitForLine((line) => {
      const e = JSON.parse(line) as AccessEvent;
      return e.type === 'connectClientUpserted' && e.payload.clientProofKeyThumbprint === t && e.payload.status === 'approved';
    });
    const approved = JSON.parse(approvedLine) as AccessEvent;
    expect(Object.keys(approved)).toEqual(['revision', 'type', 'payload']);
    expect(approved.revision).toBeGreaterThan(snapshot.revision);
    expect(await humanWatch.waitForLine((l) => l.includes(t) && l.includes('  approved  '))).toMatch(new RegExp(`^${TIME}  approved  "New tablet" \\(code ${verificationCodeOf(t)}\\)  tablet, approved ${RECENT}, not connected yet  ${t}$`));

    setSecurityMode(env.deps, 'client-approval', 'web');
    await Promise.all([
      jsonWatch.waitForLine((l) => l === JSON.stringify({ revision: approved.revision + 1, type: 'connectSecurityModeUpdated', payload: { mode: 'client-approval' } })),
      humanWatch.waitForLine((l) => new RegExp(`^${TIME}  mode      Connect client approval is required\\.$`).test(l)),
    ]);

    const [jsonResult, humanResult] = await Promise.all([jsonWatch.interrupt(), humanWatch.interrupt()]);
    expect(jsonResult.code).toBe(0);
    expect(humanResult.code).toBe(0);
    expect(jsonResult.stdout.trimEnd().split('\n').map((line) => (JSON.parse(line) as AccessEvent).type)).toEqual(['snapshot', 'connectClientUpserted', 'connectSecurityModeUpdated']);
    expect(humanResult.stderr).toBe(`Watching access events at ${env.publicUrl} (Ctrl+C to stop).\n`);
  });
});

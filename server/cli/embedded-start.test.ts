// The newcomer's path, as child processes: `gatehouse start`, then `gatehouse client connect` waits
// for approval, the owner approves with one tRPC call and the admin token, and the client gets in.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const bin = join(import.meta.dirname, '../../bin/gatehouse-dev.js');
let dir: string;
let server: ChildProcessWithoutNullStreams;
let out = '';

function run(args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'pipe' });
  const result = { stdout: '', stderr: '', code: null as number | null, child };
  child.stdout.on('data', (c) => (result.stdout += c));
  child.stderr.on('data', (c) => (result.stderr += c));
  const done = new Promise<typeof result>((resolve) => child.on('close', (code) => resolve({ ...result, code })));
  return { result, done };
}

const field = (label: string) => new RegExp(`${label}\\s+(\\S+)`).exec(out)?.[1] ?? '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  server = spawn(process.execPath, [bin, 'start', '--data-dir', join(dir, 'data'), '--env-port', '0', '--relay-port', '0'], { stdio: 'pipe' });
  server.stdout.on('data', (c) => (out += c));
  server.stderr.on('data', (c) => (out += c));
  await vi.waitFor(() => expect(out).toContain('Press Ctrl+C to stop.'), { timeout: 20_000, interval: 50 });
});
afterAll(async () => {
  const closed = new Promise((r) => server.once('close', r));
  server.kill('SIGINT');
  await closed;
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse start (embedded default)', () => {
  it('prints the URLs, the environment id and a working owner login link', async () => {
    const envUrl = field('Environment');
    expect(envUrl).toMatch(/^http:\/\/localhost:\d+$/); // a passkey RP id needs a name, not an IP address
    expect(field('Relay')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const login = /(http:\S+\/login#code=\S+)/.exec(out)?.[1];
    expect(login).toBeDefined();
    const code = new URL(login!).hash.slice('#code='.length);
    const res = await fetch(`${envUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: envUrl }, body: JSON.stringify({ code }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/^gatehouse_owner=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    expect((await fetch(`${envUrl}/trpc/connect.securityMode.get`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${envUrl}/trpc/connect.securityMode.get`)).status).toBe(401);
    // The link is single-use.
    expect((await fetch(`${envUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: envUrl }, body: JSON.stringify({ code }) })).status).toBe(401);
  });

  it('a client waits for approval, is approved with one tRPC call, and prints Connected with its whoami', async () => {
    const envUrl = field('Environment');
    const adminToken = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
    const owner = (path: string, body?: unknown) =>
      fetch(`${envUrl}/trpc/${path}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    expect((await owner('connect.securityMode.set', { mode: 'client-approval' })).status).toBe(200);

    const envId = /\(id (env_[A-Za-z0-9_-]+)\)/.exec(out)?.[1]!;
    const client = run(['client', 'connect', '--environment', envId, '--relay', field('Relay'), '--account', 'owner', '--data-dir', join(dir, 'client')]);
    await vi.waitFor(() => expect(client.result.stdout).toContain('Waiting for approval…'), { timeout: 20_000, interval: 50 });
    const thumbprint = /Client\s+(\S+)/.exec(client.result.stdout)![1]!;
    const code = /Verification\s+(\S+)/.exec(client.result.stdout)![1]!;
    const listed = (await (await owner('connect.clients.list')).json()) as { result: { data: { items: Array<{ clientProofKeyThumbprint: string; verificationCode: string }> } } };
    expect(listed.result.data.items.find((c) => c.clientProofKeyThumbprint === thumbprint)?.verificationCode).toBe(code);

    expect((await owner('connect.clients.approve', { clientProofKeyThumbprint: thumbprint })).status).toBe(200);
    const done = await client.done;
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`Connected to ${envId}`);
    expect(done.stdout).toMatch(new RegExp(`^whoami {8}client ${thumbprint}, scopes environment:use, session expires \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`, 'm'));
  });

  it('a rejected client stops with the rejected message and exit code 4', async () => {
    const envId = /\(id (env_[A-Za-z0-9_-]+)\)/.exec(out)?.[1]!;
    const client = run(['client', 'connect', '--environment', envId, '--relay', field('Relay'), '--account', 'owner', '--data-dir', join(dir, 'client2'), '--json']);
    await vi.waitFor(async () => {
      const adminToken = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
      const res = await fetch(`${field('Environment')}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${adminToken}` } });
      const pending = ((await res.json()) as { result: { data: { items: Array<{ status: string; clientProofKeyThumbprint: string }> } } }).result.data.items.filter((c) => c.status === 'pending');
      expect(pending).toHaveLength(1);
      const reject = await fetch(`${field('Environment')}/trpc/connect.clients.reject`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ clientProofKeyThumbprint: pending[0]!.clientProofKeyThumbprint }) });
      expect(reject.status).toBe(200);
    }, { timeout: 20_000, interval: 100 });
    const done = await client.done;
    expect(done.code).toBe(4);
    expect(JSON.parse(done.stdout.trim())).toMatchObject({ status: 'rejected', verificationCode: expect.stringMatching(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/) });
  });
});

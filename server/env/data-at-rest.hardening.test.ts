// S63 data at rest and caching: every file the env and the relay keep is 0600 (SQLite databases and
// their -wal/-shm included, also when an older install left them 0644), and owner tRPC answers are
// never cached.
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerCall, postMint, probe, signedMintRequest } from '../testing/http-probe';
import { startStack, type Stack } from '../testing/stack';
import { envDatabaseFile } from './data-files';

/** Every file and directory below `dir`, with its permission bits. */
function modesBelow(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out: Array<{ path: string; dir: boolean; mode: number }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    out.push({ path, dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) out.push(...modesBelow(path));
  }
  return out;
}

describe('S63 files in the data directory', () => {
  it('S63 every file is 0600 and every directory 0700 after a start with traffic, even where an older database was 0644', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gatehouse-modes-'));
    const envDir = join(root, 'env');
    // An install from before this change: the database (and a -wal) exist, readable by everyone.
    const first = await startStack({ env: { dataDir: envDir }, relay: { dataDir: join(root, 'relay') } });
    await first.close().catch(() => undefined);
    const stale = envDatabaseFile(envDir);
    for (const path of [stale, `${stale}-wal`]) {
      closeSync(openSync(path, 'a'));
      chmodSync(path, 0o644);
    }
    const stack = await startStack({ env: { dataDir: envDir }, relay: { dataDir: join(root, 'relay') } });
    try {
      await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
      const signer = await stack.newSigner();
      await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
      await stack.relay.devIssuer!.issueIdToken('owner');
      const entries = modesBelow(root);
      const files = entries.filter((e) => !e.dir).map((e) => e.path.slice(root.length + 1));
      expect(files).toEqual(expect.arrayContaining(['env/env.sqlite', 'env/env.sqlite-wal', 'env/env.sqlite-shm', 'relay/relay.sqlite', 'relay/relay.sqlite-wal', 'relay/relay.sqlite-shm']));
      for (const e of entries) expect({ path: e.path.slice(root.length + 1), mode: e.mode.toString(8) }).toEqual({ path: e.path.slice(root.length + 1), mode: e.dir ? '700' : '600' });
    } finally {
      await stack.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('S63 owner answers are not cached', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  it('S63 owner tRPC queries, mutations, batches, refusals and the event stream carry Cache-Control: no-store', async () => {
    const query = await probe(`${stack.env.publicUrl}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } });
    const batch = await probe(`${stack.env.publicUrl}/trpc/connect.securityMode.get,connect.audit.list?batch=1&input=${encodeURIComponent('{}')}`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } });
    const mutation = await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
    const unauthenticated = await probe(`${stack.env.publicUrl}/trpc/connect.clients.list`);
    const badInput = await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: 'x' });
    expect([query.status, batch.status, mutation.status, unauthenticated.status, badInput.status]).toEqual([200, 200, 200, 401, 400]);
    const controller = new AbortController();
    const stream = await fetch(`${stack.env.publicUrl}/trpc/access.events`, { headers: { authorization: `Bearer ${stack.env.adminToken}` }, signal: controller.signal });
    expect(stream.status).toBe(200);
    const streamCache = stream.headers.get('cache-control');
    controller.abort();
    for (const [name, res] of Object.entries({ query, batch, mutation, unauthenticated, badInput })) expect(res.headers.get('cache-control'), name).toBe('no-store');
    expect(streamCache).toMatch(/^no-store\b/);
  });
});

// P7: `connect.clients.list` over HTTP with 10,000 clients, against the raw floor: the same rows
// with one prepared `.all()` and `JSON.stringify`, in process. The list is paged (SPEC §13): one
// full page (500 rows, the most a page holds) of the 10,000, pending first, with the counts.
import { randomThumbprint } from '../lib/mint-requests';
import { startStack } from '../../server/testing/stack';
import type { BenchContext, RunMetrics } from '../lib/context';
import { median } from '../lib/stats';

export const LIST_CLIENTS = 10_000;
const PAGE = 500;

/** 10,000 active clients: mostly approved, some rejected, 100 pending (the cap). */
export function seedClients(sqlite: import('better-sqlite3').Database, count: number): void {
  const insert = sqlite.prepare(
    `INSERT INTO connect_clients (client_proof_key_thumbprint, account_id, device_id, status, label, os, device_type,
       first_requested_at, requested_at, request_count, updated_at, approved_at, rejected_at, revoked_at, last_seen_at, version)
     VALUES (?, 'owner', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 1)`,
  );
  const base = Date.now() - count * 1000;
  sqlite.transaction(() => {
    for (let i = 0; i < count; i++) {
      const at = new Date(base + i * 1000).toISOString();
      const status = i < 100 ? 'pending' : i % 10 === 0 ? 'rejected' : 'approved';
      insert.run(
        randomThumbprint(),
        `device-${i}`,
        status,
        `Laptop ${i}`,
        i % 2 ? 'macOS 15' : 'Linux',
        i % 3 ? 'desktop' : 'mobile',
        at,
        at,
        status === 'pending' ? 1 : 0,
        at,
        status === 'approved' ? at : null,
        status === 'rejected' ? at : null,
        status === 'approved' ? at : null,
      );
    }
  })();
}

export async function listRun(ctx: BenchContext): Promise<RunMetrics> {
  const repeats = ctx.size(15, 5);
  const stack = await startStack();
  try {
    const sqlite = stack.env.deps.db.$client;
    seedClients(sqlite, LIST_CLIENTS);

    const select = sqlite.prepare(
      `SELECT * FROM connect_clients WHERE revoked_at IS NULL ORDER BY (status = 'pending') DESC,
         CASE WHEN status = 'pending' THEN first_requested_at END ASC, coalesce(approved_at, rejected_at) DESC LIMIT ${PAGE}`,
    );
    const rawTimes: number[] = [];
    let rawBytes = 0;
    for (let i = 0; i < repeats + 2; i++) {
      const started = performance.now();
      const json = JSON.stringify(select.all());
      if (i >= 2) rawTimes.push(performance.now() - started); // two warm-ups
      rawBytes = json.length;
    }

    const env = new URL(stack.env.publicUrl);
    const args = { host: env.hostname, port: Number(env.port), path: `/trpc/connect.clients.list?input=${encodeURIComponent(JSON.stringify({ limit: PAGE }))}`, headers: { authorization: `Bearer ${stack.env.adminToken}` } };
    await ctx.worker.call('fetchTimes', { ...args, count: 2 });
    const res = await ctx.worker.call('fetchTimes', { ...args, count: repeats });
    if (res.status !== 200) throw new Error(`connect.clients.list answered HTTP ${res.status}`);

    const value = median(res.times);
    const raw = median(rawTimes);
    ctx.log(`    list ${value.toFixed(1)} ms (${(res.bytes / 1e6).toFixed(2)} MB) vs raw .all()+stringify ${raw.toFixed(1)} ms (${(rawBytes / 1e6).toFixed(2)} MB): ×${(value / raw).toFixed(2)}`);
    return { ms: value, raw_ms: raw, ratio: value / raw, bytes: res.bytes, raw_bytes: rawBytes };
  } finally {
    await stack.close();
  }
}

import { lt, sql } from 'drizzle-orm';
import type { EnvDb, EnvSql } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { replayMarkers } from '../db/schema';
import type { EnvDeps } from '../deps';

export type MarkerKind = 'dpop' | 'mint-jti' | 'mint-nonce' | 'key-rotation';

/**
 * Consumes a single-use marker atomically: `INSERT … ON CONFLICT DO NOTHING` and the changed-row
 * count decide, so two racing copies can never both pass (S13). Throws if the write fails (S17).
 * Runs in the caller's open transaction.
 */
export function consumeMarker(db: EnvDb, kind: MarkerKind, key: string, expiresAt: number): boolean {
  return hotQueries(db).consumeMarker.run({ kind, key, expiresAt }).changes === 1;
}

/** Drops markers past their window; expired ones can never be accepted again anyway. */
export function pruneMarkers(tx: EnvSql, now: number): number {
  return tx.delete(replayMarkers).where(lt(replayMarkers.expiresAt, now)).run().changes;
}

export function countMarkers(tx: EnvSql): number {
  return tx.select({ n: sql<number>`count(*)` }).from(replayMarkers).get()?.n ?? 0;
}

export const MARKER_PRUNE_INTERVAL_MS = 30_000;

/**
 * Prunes expired markers every `intervalMs`: client traffic (one `dpop` marker per request) would
 * otherwise grow the table until the next mint pruned it. Returns its stop.
 */
export function startMarkerPruner(deps: Pick<EnvDeps, 'db' | 'clock'>, intervalMs = MARKER_PRUNE_INTERVAL_MS): () => void {
  const timer = setInterval(() => {
    try {
      pruneMarkers(deps.db, deps.clock.now());
    } catch {
      // a busy or closing database: the next tick tries again
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

import { lt, sql } from 'drizzle-orm';
import type { EnvDb, EnvSql } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { replayMarkers } from '../db/schema';

export type MarkerKind = 'dpop' | 'mint-jti' | 'mint-nonce';

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

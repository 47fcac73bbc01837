import { desc, lt } from 'drizzle-orm';
import type { AuditActor, AuditEntry } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import type { EnvSql } from '../db/database';
import { auditLog } from '../db/schema';
import type { EnvDeps } from '../deps';

type Tx = Pick<EnvSql, 'insert'>;

export function recordAudit(
  tx: Tx,
  now: number,
  entry: { actor: AuditActor; action: string; clientProofKeyThumbprint?: string | null; detail?: string | null },
): void {
  tx.insert(auditLog)
    .values({
      at: isoTime(now),
      actor: entry.actor,
      action: entry.action,
      clientProofKeyThumbprint: entry.clientProofKeyThumbprint ?? null,
      detail: entry.detail ?? null,
    })
    .run();
}

export function listAudit(deps: Pick<EnvDeps, 'db'>, opts: { limit?: number; before?: number } = {}): AuditEntry[] {
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
  const query = deps.db.select().from(auditLog);
  const rows = (opts.before ? query.where(lt(auditLog.id, opts.before)) : query)
    .orderBy(desc(auditLog.id))
    .limit(limit)
    .all();
  return rows.map((r) => ({ ...r }));
}

import { and, desc, eq, lt } from 'drizzle-orm';
import type { AuditActor, AuditEntry, AuditRecord } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { auditLog } from '../db/schema';
import type { EnvDeps } from '../deps';
import { enqueueWebhookEvents } from '../webhooks/webhook-events';

/** Records one action with its typed detail, inside the caller's open transaction. */
export function recordAudit(db: EnvDb, now: number, entry: AuditRecord & { actor: AuditActor; clientProofKeyThumbprint?: string | null }): void {
  hotQueries(db).insertAudit.run({
    at: isoTime(now),
    actor: entry.actor,
    action: entry.action,
    thumbprint: entry.clientProofKeyThumbprint ?? null,
    detail: JSON.stringify(entry.detail),
  });
  enqueueWebhookEvents(db, now, entry);
}

export interface AuditFilter {
  limit?: number;
  before?: number;
  /** Only entries about this device. */
  clientProofKeyThumbprint?: string;
  actor?: AuditActor;
}

/** Newest first; `before` pages back; filters by device (indexed on thumbprint, id) and actor. */
export function listAudit(deps: Pick<EnvDeps, 'db'>, opts: AuditFilter = {}): AuditEntry[] {
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
  const rows = deps.db
    .select()
    .from(auditLog)
    .where(
      and(
        opts.before ? lt(auditLog.id, opts.before) : undefined,
        opts.clientProofKeyThumbprint ? eq(auditLog.clientProofKeyThumbprint, opts.clientProofKeyThumbprint) : undefined,
        opts.actor ? eq(auditLog.actor, opts.actor) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(limit)
    .all();
  // The columns hold one AuditRecord per row (or a legacy text detail): the CHECKs and recordAudit's type keep them paired.
  return rows.map((r) => ({ ...r }) as AuditEntry);
}

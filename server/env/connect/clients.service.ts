// The client registry (SPEC §5.1): reading active clients. Requests, decisions and the pending
// bounds each have their own module.
import { and, asc, desc, eq, isNull, sql } from 'drizzle-orm';
import { LABEL_MAX, normalizeClientText, type AuditActor, type ConnectClient } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { recordAudit } from '../audit/audit.service';
import { DomainError } from '../../common/errors';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { connectClients, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
import { endClientAccess } from './client-access';
import { toConnectClient } from './client-view';

export function notFound(thumbprint: string): DomainError {
  return new DomainError('not_found', 'not_found', `No active Connect client found for ${thumbprint}.`);
}

export function findActiveClient(db: EnvDb, thumbprint: string): ConnectClientRow | undefined {
  return hotQueries(db).findActiveClient.get({ thumbprint });
}

/** Whether an active (not revoked) row exists for this key: one indexed lookup, no row to build. */
export function hasActiveClient(db: EnvDb, thumbprint: string): boolean {
  return hotQueries(db).hasActiveClient.get({ thumbprint }) !== undefined;
}

/** The client's row whatever its state (revoked rows included). */
export function findClientRow(db: EnvDb, thumbprint: string): ConnectClientRow | undefined {
  return hotQueries(db).findClientRow.get({ thumbprint });
}

/** Every active client in the paged list's order (SPEC §13): pending by first request, then newest decision. */
export function listClients(deps: Pick<EnvDeps, 'db'>): ConnectClient[] {
  return deps.db
    .select()
    .from(connectClients)
    .where(isNull(connectClients.revokedAt))
    .orderBy(
      desc(sql`${connectClients.status} = 'pending'`),
      sql`CASE WHEN ${connectClients.status} = 'pending' THEN ${connectClients.firstRequestedAt} END ASC`,
      sql`CASE WHEN ${connectClients.status} = 'pending' THEN ${connectClients.clientProofKeyThumbprint} END ASC`,
      desc(sql`coalesce(${connectClients.approvedAt}, ${connectClients.rejectedAt})`),
      desc(connectClients.clientProofKeyThumbprint),
    )
    .all()
    .map(toConnectClient);
}

/** Sets or clears the owner's name for a device (issue 17 item 7); the client's own label stays. */
export function renameClient(deps: EnvDeps, thumbprint: string, name: string | null, actor: AuditActor): ConnectClient {
  const now = deps.clock.now();
  const to = name === null ? null : normalizeClientText(name, LABEL_MAX) || null;
  const result = deps.db.transaction(
    (tx) => {
      const before = findActiveClient(deps.db, thumbprint);
      if (!before) throw notFound(thumbprint);
      if (before.name === to) return { row: before, changed: false };
      const row = tx
        .update(connectClients)
        .set({ name: to, updatedAt: isoTime(now) })
        .where(and(eq(connectClients.clientProofKeyThumbprint, thumbprint), isNull(connectClients.revokedAt)))
        .returning()
        .get();
      if (!row) throw notFound(thumbprint);
      recordAudit(deps.db, now, { actor, action: 'client_renamed', clientProofKeyThumbprint: thumbprint, detail: { from: before.name, to } });
      return { row, changed: true };
    },
    { behavior: 'immediate' },
  );
  const client = toConnectClient(result.row);
  if (result.changed) deps.bus.publish({ type: 'connectClientUpserted', payload: client });
  return client;
}

/**
 * Ends a device's live sessions and unredeemed credentials without changing its decision (issue 17
 * item 6): in account mode it has no row to revoke. Audited only when something ended.
 */
export function endClientSessions(deps: EnvDeps, thumbprint: string, actor: AuditActor): { endedSessions: number } {
  const now = deps.clock.now();
  const endedSessions = deps.db.transaction(
    (tx) => {
      const { endedSessions } = endClientAccess(tx, thumbprint, now);
      if (endedSessions > 0) recordAudit(deps.db, now, { actor, action: 'client_sessions_ended', clientProofKeyThumbprint: thumbprint, detail: { endedSessions } });
      return endedSessions;
    },
    { behavior: 'immediate' },
  );
  if (endedSessions > 0) deps.bus.signalClient({ clientProofKeyThumbprint: thumbprint, kind: 'sessions-ended' });
  return { endedSessions };
}

/** Active clients whose thumbprint starts with `prefix` (the CLI accepts unique prefixes). */
export function findClientsByPrefix(deps: Pick<EnvDeps, 'db'>, prefix: string): ConnectClient[] {
  return deps.db
    .select()
    .from(connectClients)
    .where(and(isNull(connectClients.revokedAt), sql`substr(${connectClients.clientProofKeyThumbprint}, 1, ${prefix.length}) = ${prefix}`))
    .orderBy(asc(connectClients.clientProofKeyThumbprint))
    .limit(20)
    .all()
    .map(toConnectClient);
}

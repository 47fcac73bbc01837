// The client registry (SPEC §5.1): reading active clients. Requests, decisions and the pending
// bounds each have their own module.
import { and, asc, desc, isNull, sql } from 'drizzle-orm';
import type { ConnectClient } from '../../../shared/contracts';
import { DomainError } from '../../common/errors';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { connectClients, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
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

/** Active clients, pending first, then the most recently changed. */
export function listClients(deps: Pick<EnvDeps, 'db'>): ConnectClient[] {
  return deps.db
    .select()
    .from(connectClients)
    .where(isNull(connectClients.revokedAt))
    .orderBy(desc(sql`${connectClients.status} = 'pending'`), desc(connectClients.updatedAt))
    .all()
    .map(toConnectClient);
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

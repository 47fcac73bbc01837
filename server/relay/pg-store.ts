// The relay's store on PostgreSQL (SPEC §9): several relay instances share one database, so links
// and single-use markers are decided by the database, one statement each. Services only see
// RelayStore; a database that is down surfaces as DomainError('unavailable') and the pool
// reconnects by itself when it comes back.
import { and, eq, gt, inArray, lt } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { DomainError } from '../common/errors';
import { packagePath } from '../common/package-path';
import * as schema from './db/pg-schema';
import { relayIdentity, relayLinks, relayReplayMarkers, relayTunnels } from './db/pg-schema';
import type { RelayLinkRecord, RelayStore, TunnelLocationStore } from './store';

const MOVES_CHANNEL = 'gatehouse_relay_tunnels';

const migrationsFolder = packagePath('drizzle', 'relay-pg');

export interface PgRelayStoreOptions {
  /** Connections per relay instance (default 10). Budget instances × max under the server's max_connections. */
  max?: number;
  /** How long a request waits for a connection before the database counts as unavailable (default 5 s). */
  connectionTimeoutMs?: number;
  /** Server-side limit for one statement (default 10 s). */
  statementTimeoutMs?: number;
}

export const UNAVAILABLE_MESSAGE = 'The relay’s database is unavailable; try again shortly.';

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL without its password, for logs and start-up banners. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

// Node socket errors, and pg's own messages for a connection that failed or went away.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
const CONNECTION_MESSAGES = /connection terminated|timeout exceeded when trying to connect|client has encountered a connection error|connection timeout|server closed the connection/i;

/**
 * Whether an error means "the database cannot serve us right now" rather than a bug: network
 * errors, SQLSTATE classes 08 (connection), 28 (authorization), 53 (resources), 57P01–03 (shutdown,
 * starting up), 57014 (statement timeout) and 3D000 (no such database).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code)) return true;
      if (/^(08|28|53)[0-9A-Z]{3}$/.test(code) || /^57P0[1-3]$/.test(code) || code === '57014' || code === '3D000') return true;
    }
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function rootCause(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (!cause) break;
    current = cause;
  }
  const { code, message } = (current ?? {}) as { code?: unknown; message?: unknown };
  return [typeof code === 'string' ? code : null, typeof message === 'string' ? message.split('\n')[0] : null].filter(Boolean).join(' ') || 'unknown error';
}

/** Opens the pool and brings the schema up to date (one instance at a time), then serves. */
export async function openPgRelayStore(databaseUrl: string, opts: PgRelayStoreOptions = {}): Promise<RelayStore> {
  if (!isPostgresUrl(databaseUrl)) throw new TypeError('The relay database URL must start with postgres:// or postgresql://.');
  const where = describeDatabaseUrl(databaseUrl);
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    statement_timeout: opts.statementTimeoutMs ?? 10_000,
    application_name: 'gatehouse-relay',
  });

  // Idle connections that die (database restart, network cut) are reported here; without a
  // listener pg's 'error' event would crash the process. The pool replaces them on next use.
  let lastLogged = 0;
  const logUnavailable = (error: unknown) => {
    const now = Date.now();
    if (now - lastLogged < 10_000) return;
    lastLogged = now;
    console.error(`[gatehouse relay] database ${where} unavailable: ${rootCause(error)}`);
  };
  pool.on('error', logUnavailable);

  try {
    await migrateOnce(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (isDatabaseUnavailable(error)) throw new Error(`Could not reach the relay database ${where}: ${rootCause(error)}.`);
    throw new Error(`Could not prepare the relay database ${where}: ${rootCause(error)}.`);
  }

  const db = drizzle({ client: pool, schema });

  /** Runs one store operation; a database that cannot serve becomes a clean 503-class error. */
  async function guarded<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        logUnavailable(error);
        throw new DomainError('unavailable', 'internal', UNAVAILABLE_MESSAGE);
      }
      throw error;
    }
  }

  const notifyMove = (environmentId: string, instanceId: string) => pool.query('SELECT pg_notify($1, $2)', [MOVES_CHANNEL, `${environmentId} ${instanceId}`]);
  let listener: pg.Client | null = null;
  let closing = false;
  const tunnelLocations: TunnelLocationStore = {
    claim: (environmentId, location) =>
      guarded(async () => {
        await db
          .insert(relayTunnels)
          .values({ environmentId, ...location })
          .onConflictDoUpdate({ target: relayTunnels.environmentId, set: { ...location } });
        await notifyMove(environmentId, location.instanceId);
      }),
    renew: (instanceId, environmentIds, leaseExpiresAt) =>
      guarded(async () => {
        if (environmentIds.length === 0) return;
        await db
          .update(relayTunnels)
          .set({ leaseExpiresAt })
          .where(and(eq(relayTunnels.instanceId, instanceId), inArray(relayTunnels.environmentId, environmentIds)));
      }),
    release: (environmentId, instanceId) =>
      guarded(async () => {
        const gone = await db.delete(relayTunnels).where(and(eq(relayTunnels.environmentId, environmentId), eq(relayTunnels.instanceId, instanceId)));
        if (gone.rowCount) await notifyMove(environmentId, '');
      }),
    releaseAll: (instanceId) =>
      guarded(async () => {
        const gone = await db.delete(relayTunnels).where(eq(relayTunnels.instanceId, instanceId)).returning({ environmentId: relayTunnels.environmentId });
        for (const row of gone) await notifyMove(row.environmentId, '');
      }),
    locate: (environmentId, now) =>
      guarded(async () => {
        const [row] = await db
          .select()
          .from(relayTunnels)
          .where(and(eq(relayTunnels.environmentId, environmentId), gt(relayTunnels.leaseExpiresAt, now)))
          .limit(1);
        return row ? { instanceId: row.instanceId, internalUrl: row.internalUrl, leaseExpiresAt: row.leaseExpiresAt } : null;
      }),
    listen(onMove, onListening) {
      // One dedicated connection LISTENs; when it drops, callers stop caching until it is back.
      const connectListener = async () => {
        if (closing) return;
        const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000, keepAlive: true, application_name: 'gatehouse-relay-listen' });
        let retried = false;
        const retry = () => {
          if (retried) return;
          retried = true;
          onListening(false);
          if (listener === client) listener = null;
          client.end().catch(() => undefined);
          if (!closing) setTimeout(() => void connectListener(), 1_000).unref();
        };
        client.on('error', (error) => {
          logUnavailable(error);
          retry();
        });
        client.on('notification', (message) => {
          const [environmentId, instanceId = ''] = (message.payload ?? '').split(' ');
          if (environmentId) onMove(environmentId, instanceId);
        });
        try {
          await client.connect();
          await client.query(`LISTEN ${MOVES_CHANNEL}`);
          if (closing) return void client.end().catch(() => undefined);
          listener = client;
          client.once('end', () => listener === client && retry());
          onListening(true);
        } catch (error) {
          logUnavailable(error);
          retry();
        }
      };
      void connectListener();
    },
  };

  const toRecord = (row: typeof relayLinks.$inferSelect): RelayLinkRecord => ({ ...row });
  let closed: Promise<void> | null = null;

  return {
    getLink: (environmentId) =>
      guarded(async () => {
        const [row] = await db.select().from(relayLinks).where(eq(relayLinks.environmentId, environmentId)).limit(1);
        return row ? toRecord(row) : null;
      }),

    saveLink: (record, now) =>
      guarded(async () => {
        // One statement decides: insert, or refresh only while the link stays with the same account.
        // A link deleted between a refused upsert and the look-up is simply tried again.
        for (let attempt = 0; ; attempt++) {
          const result = await db
            .insert(relayLinks)
            .values({ ...record, createdAt: now, updatedAt: now })
            .onConflictDoUpdate({
              target: relayLinks.environmentId,
              set: { environmentPublicKey: record.environmentPublicKey, endpoint: record.endpoint, updatedAt: now },
              setWhere: eq(relayLinks.accountId, record.accountId),
            });
          if (result.rowCount === 1) return { saved: true } as const;
          const [existing] = await db.select({ accountId: relayLinks.accountId }).from(relayLinks).where(eq(relayLinks.environmentId, record.environmentId)).limit(1);
          if (existing) return { saved: false, accountId: existing.accountId } as const;
          if (attempt >= 2) return { saved: false, accountId: '' } as const;
        }
      }),

    deleteLink: (environmentId) => guarded(async () => ((await db.delete(relayLinks).where(eq(relayLinks.environmentId, environmentId))).rowCount ?? 0) > 0),

    // A single INSERT on the (kind, key) primary key: of any number of concurrent callers on any
    // number of instances, exactly one inserts the row (rowCount 1); the rest see the conflict.
    consumeMarker: (kind, key, expiresAt) =>
      guarded(async () => (await db.insert(relayReplayMarkers).values({ kind, key, expiresAt }).onConflictDoNothing()).rowCount === 1),

    pruneMarkers: (now) => guarded(async () => (await db.delete(relayReplayMarkers).where(lt(relayReplayMarkers.expiresAt, now))).rowCount ?? 0),

    claimIdentity: (identity, now) =>
      guarded(async () => {
        await db.insert(relayIdentity).values({ id: 'relay', ...identity, createdAt: now }).onConflictDoNothing();
        const [row] = await db.select().from(relayIdentity).where(eq(relayIdentity.id, 'relay')).limit(1);
        return { publicKey: row!.publicKey, publicUrl: row!.publicUrl };
      }),

    tunnelLocations,

    ping: () =>
      guarded(async () => {
        await pool.query('SELECT 1');
      }),

    close() {
      closing = true;
      void listener?.end().catch(() => undefined);
      closed ??= pool.end();
      return closed;
    },
  };
}

/** drizzle's migrator reads then applies; a session advisory lock keeps two starting instances in turn. */
async function migrateOnce(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(`SELECT pg_advisory_lock(hashtext('gatehouse:relay:migrate'))`);
    try {
      await migrate(drizzle({ client }), { migrationsFolder });
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext('gatehouse:relay:migrate'))`).catch((error: Error) => {
        broken = error;
      });
    }
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A connection whose state is unknown (lock possibly held) is discarded, never reused.
    client.release(broken);
  }
}

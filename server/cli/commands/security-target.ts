// Where `gatehouse connect security …` acts: the running environment over the typed tRPC client
// (so the audit log and every open page see the change live), or else the database directly
// through the same services.
import { readFileSync } from 'node:fs';
import { TRPCClientError } from '@trpc/client';
import type { AuditEntry, ConnectClient, DecisionResult, RevokeResult, SecurityMode } from '../../../shared/contracts';
import { CliError, findRunningEnv, openEnvOffline } from '../env-access';
import type { OwnerClient } from '../../env/owner/owner-client';
import { adminTokenFile } from '../../env/data-files';
import { EXIT } from '../options';
import { runtimeFile } from '../runtime-file';

export const DIRECT_WRITE_NOTE = 'No running environment; changed the database directly.';
export const DIRECT_READ_NOTE = 'No running environment; read the database directly.';

export interface SecurityTarget {
  /** `env`: through the running environment at `url`; `database`: the data directory's database. */
  via: 'env' | 'database';
  url: string | null;
  getMode(): Promise<SecurityMode>;
  setMode(mode: SecurityMode): Promise<{ mode: SecurityMode; endedSessions: number }>;
  listClients(): Promise<ConnectClient[]>;
  /** Active clients whose thumbprint starts with `prefix`. */
  findByPrefix(prefix: string): Promise<ConnectClient[]>;
  approve(thumbprint: string): Promise<DecisionResult>;
  reject(thumbprint: string): Promise<DecisionResult>;
  revoke(thumbprint: string): Promise<RevokeResult>;
  /** The newest audit entries first. */
  listAudit(limit: number): Promise<AuditEntry[]>;
  close(): void;
}

/** The running environment for `dataDir`, or its database when none answers. */
export async function openSecurityTarget(dataDir: string): Promise<SecurityTarget> {
  const running = await findRunningEnv(dataDir);
  // Each way loads only what it needs: the tRPC client, or the database and its services.
  if (running) {
    const { createOwnerClient } = await import('../../env/owner/owner-client');
    return envTarget(running.url, dataDir, createOwnerClient(running.url, running.adminToken, 'cli'));
  }
  return databaseTarget(dataDir);
}

function envTarget(url: string, dataDir: string, client: OwnerClient): SecurityTarget {
  const call = async <T>(request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw fromTrpcError(error, url, dataDir);
    }
  };
  const list = () => call(() => client.connect.clients.list.query());
  return {
    via: 'env',
    url,
    getMode: async () => (await call(() => client.connect.securityMode.get.query())).mode,
    setMode: (mode) => call(() => client.connect.securityMode.set.mutate({ mode })),
    listClients: list,
    findByPrefix: async (prefix) => (await list()).filter((c) => c.clientProofKeyThumbprint.startsWith(prefix)),
    approve: (t) => call(() => client.connect.clients.approve.mutate({ clientProofKeyThumbprint: t })),
    reject: (t) => call(() => client.connect.clients.reject.mutate({ clientProofKeyThumbprint: t })),
    revoke: (t) => call(() => client.connect.clients.revoke.mutate({ clientProofKeyThumbprint: t })),
    listAudit: (limit) => call(() => client.connect.audit.list.query({ limit })),
    close: () => {},
  };
}

async function databaseTarget(dataDir: string): Promise<SecurityTarget> {
  const [{ findClientsByPrefix, listClients }, { approveClient, rejectClient, revokeClient }, { readSecurityModeState, setSecurityMode }, { listAudit }] = await Promise.all([
    import('../../env/connect/clients.service'),
    import('../../env/connect/client-decisions.service'),
    import('../../env/connect/security-mode.service'),
    import('../../env/audit/audit.service'),
  ]);
  const env = await openEnvOffline(dataDir);
  const { deps } = env;
  return {
    via: 'database',
    url: null,
    getMode: async () => {
      const state = readSecurityModeState(deps.db);
      if (state.mode === null) throw new CliError(state.error);
      return state.mode;
    },
    setMode: async (mode) => setSecurityMode(deps, mode, 'cli'),
    listClients: async () => listClients(deps),
    findByPrefix: async (prefix) => findClientsByPrefix(deps, prefix),
    approve: async (t) => approveClient(deps, t, 'cli'),
    reject: async (t) => rejectClient(deps, t, 'cli'),
    revoke: async (t) => revokeClient(deps, t, 'cli'),
    listAudit: async (limit) => listAudit(deps, { limit }),
    close: () => env.close(),
  };
}

/** The URL `findRunningEnv` would have tried, for "not reachable" messages. */
export function recordedEnvUrl(dataDir: string): string | null {
  try {
    const url = (JSON.parse(readFileSync(runtimeFile(dataDir), 'utf8')) as { url?: unknown }).url;
    return typeof url === 'string' ? url : null;
  } catch {
    return null;
  }
}

/** Server answers keep their (safe) message; a lost connection says which URL was tried. */
export function fromTrpcError(error: unknown, url: string, dataDir: string): Error {
  if (!(error instanceof TRPCClientError)) return error instanceof Error ? error : new Error(String(error));
  const code = (error.data as { code?: string } | undefined)?.code;
  if (!code) {
    const cause = error.cause instanceof Error ? (error.cause.cause instanceof Error ? error.cause.cause.message : error.cause.message) : error.message;
    return new CliError(`Could not reach the environment at ${url} (${cause}). Is it still running? Start it with \`npx gatehouse start\`, or stop it so the CLI can use the database directly.`);
  }
  if (code === 'NOT_FOUND') return new CliError(error.message, EXIT.notFound);
  if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') {
    return new CliError(`The environment at ${url} refused the admin token in ${adminTokenFile(dataDir)}. Restart it so it and the CLI share that token, or pass the --data-dir it runs on.`);
  }
  if (code === 'BAD_REQUEST') return new CliError(error.message, EXIT.usage);
  return new CliError(error.message);
}

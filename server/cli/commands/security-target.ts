// Where `gatehouse connect security …` acts: the running environment over the typed tRPC client
// (so the audit log and every open page see the change live), or else the database directly
// through the same services.
import { readFileSync } from 'node:fs';
import { TRPCClientError } from '@trpc/client';
import { CLIENT_PAGE_MAX, CLIENT_SEARCH_MAX, type AuditEntry, type ConnectClient, type DecisionResult, type InviteCreated, type LockdownState, type OpenInvite, type RevokeResult, type SecurityMode } from '../../../shared/contracts';
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
  /** `expiresInSeconds` absent: until revoked. */
  approve(thumbprint: string, expiresInSeconds?: number): Promise<DecisionResult>;
  reject(thumbprint: string): Promise<DecisionResult>;
  revoke(thumbprint: string): Promise<RevokeResult>;
  createInvite(input: { label?: string; expiresInSeconds: number }): Promise<InviteCreated>;
  listInvites(): Promise<OpenInvite[]>;
  revokeInvite(inviteId: string): Promise<{ revoked: true }>;
  setApprover(thumbprint: string, approver: boolean): Promise<DecisionResult>;
  getLockdown(): Promise<LockdownState>;
  /** `until` null: accept new devices again. */
  setLockdown(until: string | null): Promise<LockdownState>;
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
  /** Every page of the paged list (SPEC §13), in its order; `search` narrows on the server. */
  const list = async (search?: string): Promise<ConnectClient[]> => {
    const all: ConnectClient[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(() => client.connect.clients.list.query({ limit: CLIENT_PAGE_MAX, ...(cursor && { cursor }), ...(search && { search }) }));
      all.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return all;
  };
  return {
    via: 'env',
    url,
    getMode: async () => (await call(() => client.connect.securityMode.get.query())).mode,
    setMode: (mode) => call(() => client.connect.securityMode.set.mutate({ mode })),
    listClients: () => list(),
    findByPrefix: async (prefix) => (await list(prefix.slice(0, CLIENT_SEARCH_MAX))).filter((c) => c.clientProofKeyThumbprint.startsWith(prefix)),
    approve: (t, expiresInSeconds) => call(() => client.connect.clients.approve.mutate({ clientProofKeyThumbprint: t, ...(expiresInSeconds !== undefined && { expiresInSeconds }) })),
    reject: (t) => call(() => client.connect.clients.reject.mutate({ clientProofKeyThumbprint: t })),
    revoke: (t) => call(() => client.connect.clients.revoke.mutate({ clientProofKeyThumbprint: t })),
    setApprover: (t, approver) => call(() => client.connect.clients.setApprover.mutate({ clientProofKeyThumbprint: t, approver })),
    createInvite: (input) => call(() => client.connect.invites.create.mutate(input)),
    listInvites: () => call(() => client.connect.invites.list.query()),
    revokeInvite: (inviteId) => call(() => client.connect.invites.revoke.mutate({ inviteId })),
    getLockdown: async () => {
      const { until, indefinite } = await call(() => client.connect.lockdown.get.query());
      return { until, indefinite };
    },
    setLockdown: (until) => call(() => client.connect.lockdown.set.mutate({ until })),
    listAudit: (limit) => call(() => client.connect.audit.list.query({ limit })),
    close: () => {},
  };
}

async function databaseTarget(dataDir: string): Promise<SecurityTarget> {
  const [{ findClientsByPrefix, listClients }, { approveClient, rejectClient, revokeClient }, { readSecurityModeState, setSecurityMode }, { listAudit }, { readLockdown, setLockdown }, invites, approvers] = await Promise.all([
    import('../../env/connect/clients.service'),
    import('../../env/connect/client-decisions.service'),
    import('../../env/connect/security-mode.service'),
    import('../../env/audit/audit.service'),
    import('../../env/connect/lockdown.service'),
    import('../../env/connect/invites.service'),
    import('../../env/connect/approvers.service'),
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
    approve: async (t, expiresInSeconds) => approveClient(deps, t, 'cli', expiresInSeconds),
    reject: async (t) => rejectClient(deps, t, 'cli'),
    revoke: async (t) => revokeClient(deps, t, 'cli'),
    // Stopped: the link points at the relay's page origin, or at the URL the environment last ran on.
    createInvite: async (input) => invites.createInvite(deps, input, 'cli', { environmentId: env.environmentId, publicUrl: recordedEnvUrl(dataDir) ?? 'http://127.0.0.1:4100' }),
    listInvites: async () => invites.listOpenInvites(deps),
    setApprover: async (t, approver) => approvers.setApprover(deps, t, approver, 'cli'),
    revokeInvite: async (inviteId) => invites.revokeInvite(deps, inviteId, 'cli'),
    getLockdown: async () => readLockdown(deps.db, deps.clock.now()),
    setLockdown: async (until) => setLockdown(deps, until, 'cli'),
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

// Opens an environment's data directory from the CLI when the command acts on it directly.
// Finding a running environment stays cheap; the database and keys load only when a command opens them.
import { existsSync } from 'node:fs';
import type { SigningKey } from '../common/keys';
import type { EnvDeps } from '../env/deps';
import { readTextIfExists } from '../common/files';
import { adminTokenFile, envDatabaseFile, envKeyFile } from '../env/data-files';
import { CliError } from './options';
import { readRuntimeInfo, type RuntimeInfo } from './runtime-file';

export { CliError };

export interface OfflineEnv {
  deps: EnvDeps;
  environmentId: string;
  close(): void;
}

export async function openEnvOffline(dataDir: string): Promise<OfflineEnv> {
  if (!existsSync(envDatabaseFile(dataDir))) {
    throw new CliError(`No environment data in ${dataDir}. Start one with \`npm start\` (or \`npx gatehouse env start\`), or pass --data-dir.`);
  }
  const [{ systemClock }, { openEnvDatabase }, { syncEnvironmentId }, { AccessBus }, key] = await Promise.all([
    import('../common/clock'),
    import('../env/db/database'),
    import('../env/environment.service'),
    import('../env/events/access-bus'),
    loadEnvSigningKey(dataDir),
  ]);
  const db = openEnvDatabase(envDatabaseFile(dataDir));
  const deps: EnvDeps = { db, bus: new AccessBus(), clock: systemClock };
  try {
    const { environmentId } = await syncEnvironmentId(deps, key.publicJwk);
    return { deps, environmentId, close: () => db.$client.close() };
  } catch (error) {
    db.$client.close();
    throw error;
  }
}

/** The environment's own signing key (created if missing, as the environment does), for link proofs. */
export async function loadEnvSigningKey(dataDir: string): Promise<SigningKey> {
  const { loadOrCreateSigningKey } = await import('../common/keys');
  return loadOrCreateSigningKey(envKeyFile(dataDir));
}

/** The running environment on this data directory, if one answers. */
export async function findRunningEnv(dataDir: string): Promise<(RuntimeInfo & { adminToken: string }) | null> {
  const info = readRuntimeInfo(dataDir);
  if (!info) return null;
  try {
    // Generous: a loaded machine (or a busy environment) answers slowly; a wrong 'not running' is worse.
    const res = await fetch(`${info.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { environmentId?: string };
    if (body.environmentId !== info.environmentId) return null;
  } catch {
    return null;
  }
  const adminToken = readTextIfExists(adminTokenFile(dataDir))?.trim();
  if (!adminToken) throw new CliError(`The environment at ${info.url} is running but ${adminTokenFile(dataDir)} is missing. Restart it to create a new admin token.`);
  return { ...info, adminToken };
}

/**
 * Where the environment will answer when it is not running now: what `gatehouse env start` picks
 * by default ($GATEHOUSE_ENV_PORT or 4100), unless $GATEHOUSE_ENV_PUBLIC_URL says otherwise.
 */
export function expectedEnvUrl(): string {
  if (process.env.GATEHOUSE_ENV_PUBLIC_URL) return process.env.GATEHOUSE_ENV_PUBLIC_URL;
  const port = process.env.GATEHOUSE_ENV_PORT ?? '';
  // Port 0 picks a free port at start, so it names no URL in advance.
  return `http://127.0.0.1:${/^\d{1,5}$/.test(port) && Number(port) > 0 && Number(port) <= 65535 ? Number(port) : 4100}`;
}

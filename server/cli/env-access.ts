// Opens an environment's data directory from the CLI when the command acts on it directly.
import { existsSync } from 'node:fs';
import { systemClock } from '../common/clock';
import { loadOrCreateSigningKey, type SigningKey } from '../common/keys';
import { openEnvDatabase } from '../env/db/database';
import type { EnvDeps } from '../env/deps';
import { adminTokenFile, envDatabaseFile, envKeyFile } from '../env/env-app';
import { getOrCreateEnvironmentId } from '../env/environment.service';
import { AccessBus } from '../env/events/access-bus';
import { readTextIfExists } from '../common/files';
import { readRuntimeInfo, type RuntimeInfo } from './runtime-file';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface OfflineEnv {
  deps: EnvDeps;
  environmentId: string;
  signingKey: SigningKey;
  close(): void;
}

export async function openEnvOffline(dataDir: string): Promise<OfflineEnv> {
  if (!existsSync(envDatabaseFile(dataDir))) {
    throw new CliError(`No environment data in ${dataDir}. Start one with \`npm start\` (or \`gatehouse env start\`), or pass --data-dir.`);
  }
  const db = openEnvDatabase(envDatabaseFile(dataDir));
  const deps: EnvDeps = { db, bus: new AccessBus(), clock: systemClock };
  return {
    deps,
    environmentId: getOrCreateEnvironmentId(deps),
    signingKey: await loadOrCreateSigningKey(envKeyFile(dataDir)),
    close: () => db.$client.close(),
  };
}

/** The running environment on this data directory, if one answers. */
export async function findRunningEnv(dataDir: string): Promise<(RuntimeInfo & { adminToken: string }) | null> {
  const info = readRuntimeInfo(dataDir);
  if (!info) return null;
  try {
    const res = await fetch(`${info.url}/healthz`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { environmentId?: string };
    if (body.environmentId !== info.environmentId) return null;
  } catch {
    return null;
  }
  const adminToken = readTextIfExists(adminTokenFile(dataDir))?.trim();
  if (!adminToken) throw new CliError(`The environment at ${info.url} is running but ${adminTokenFile(dataDir)} is missing. Restart it to create a new admin token.`);
  return { ...info, adminToken };
}

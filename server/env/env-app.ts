// Composes one environment: database, keys, event bus, HTTP server. `gatehouse env start` and
// `gatehouse start` both run this.
import type { Server } from 'node:http';
import { createBoundedServer } from '../common/server-limits';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { adminTokenFile, envDatabaseFile, envKeyFile } from './data-files';
import { systemClock, type Clock } from '../common/clock';
import { ensurePrivateDir } from '../common/files';
import { openEnvDatabase } from './db/database';
import type { EnvDeps } from './deps';
import { getOrCreateEnvironmentId } from './environment.service';
import { AccessBus } from './events/access-bus';
import { createEnvRequestHandler } from './http';
import { authenticateClientRequest } from './connect/client-auth';
import { createLoginCode, loadOrCreateAdminToken } from './owner/owner-auth.service';
import { defaultWebRoot } from './web-static';
import { loadOrCreateSigningKey, type SigningKey } from '../common/keys';
import { createMintService, type MintService } from './connect/mint.service';
import { createConnectRoutes } from './connect/connect-routes';
import { linkToRelay, unlinkFromRelay } from './link/link-client';
import { readRelayLink, type RelayLink } from './link/link.service';
import { startMarkerPruner } from './connect/replay';

export interface EnvConfig {
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** What DPoP `htu`, cookies and the relay link use; defaults to http://<host>:<port>. */
  publicUrl?: string;
  webRoot?: string;
  clock?: Clock;
  /** Origins (the relay) the web app may call, for the CSP. */
  connectOrigins?: string[];
  /** New pending clients admitted (S44); default 20/s with bursts of 100. */
  newClientRateLimit?: { perSecond: number; burst: number };
}

export interface EnvRuntime {
  deps: EnvDeps;
  environmentId: string;
  dataDir: string;
  adminToken: string;
  publicUrl: string;
  server: Server;
  signingKey: SigningKey;
  mint: MintService;
  loginUrl(): string;
  link(relayUrl: string, idToken: string): Promise<RelayLink>;
  unlink(): Promise<{ linked: false; relayReached: boolean }>;
  /** Lets the web app call this relay origin (CSP connect-src). */
  allowConnectOrigin(origin: string): void;
  close(): Promise<void>;
}

export { adminTokenFile, envDatabaseFile, envKeyFile } from './data-files';

export async function startEnvironment(config: EnvConfig): Promise<EnvRuntime> {
  const dataDir = resolve(config.dataDir);
  ensurePrivateDir(dataDir);
  const clock = config.clock ?? systemClock;
  const db = openEnvDatabase(envDatabaseFile(dataDir));
  const deps: EnvDeps = { db, bus: new AccessBus(), clock };
  const environmentId = getOrCreateEnvironmentId(deps);
  const adminToken = loadOrCreateAdminToken(adminTokenFile(dataDir));
  const signingKey = await loadOrCreateSigningKey(envKeyFile(dataDir));
  const mint = createMintService({ deps, environmentId, signingKey, ...(config.newClientRateLimit && { newClientRateLimit: config.newClientRateLimit }) });
  const host = config.host ?? '127.0.0.1';
  let publicUrl = config.publicUrl ?? '';
  const connectOrigins = [...(config.connectOrigins ?? [])];

  const server = createBoundedServer(
    createEnvRequestHandler({
      deps,
      environmentId,
      adminToken,
      publicUrl: () => publicUrl,
      webRoot: config.webRoot ?? defaultWebRoot,
      connectOrigins: () => connectOrigins,
      authenticateClient: (req) => authenticateClientRequest(deps, req, publicUrl),
      relayUrl: () => readRelayLink(deps)?.relayUrl ?? null,
      routes: createConnectRoutes({ deps, mint, publicUrl: () => publicUrl }),
    }),
  );
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port ?? 4100, host, () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  if (!publicUrl) publicUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const stopPruning = startMarkerPruner(deps);
  publicUrl = publicUrl.replace(/\/+$/, '');

  return {
    deps,
    environmentId,
    dataDir,
    adminToken,
    get publicUrl() {
      return publicUrl;
    },
    server,
    signingKey,
    mint,
    link: (relayUrl, idToken) => linkToRelay({ deps, environmentId, signingKey, publicUrl }, relayUrl, idToken),
    unlink: () => unlinkFromRelay({ deps, environmentId, signingKey, publicUrl }),
    allowConnectOrigin: (origin) => void (connectOrigins.includes(origin) || connectOrigins.push(origin)),
    loginUrl: () => `${publicUrl}/login#code=${createLoginCode(deps).code}`,
    async close() {
      stopPruning();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      db.$client.close();
    },
  };
}

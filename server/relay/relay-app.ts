// Composes one relay: store, key, account-token verifier, optional dev issuer, HTTP server.
import { importJWK } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../common/clock';
import { ensurePrivateDir } from '../common/files';
import { loadOrCreateSigningKey } from '../common/keys';
import { createOidcAccountTokenVerifier } from '../identity/account-token';
import { createDevIssuer, type DevIssuer } from '../identity/dev-issuer';
import type { RelayDeps } from './deps';
import { createRelayRequestHandler } from './http';
import { openPgRelayStore } from './pg-store';
import { openSqliteRelayStore } from './sqlite-store';
import type { RelayStore } from './store';

export const DEV_AUDIENCE = 'gatehouse';

export interface RelayConfig {
  /** The relay's own state directory. */
  dataDir: string;
  host?: string;
  port?: number;
  publicUrl?: string;
  clock?: Clock;
  /** Mount the dev account issuer under /dev-issuer (loopback callers only). */
  devIssuer?: boolean;
  /** An external OpenID provider; defaults to the dev issuer when that is mounted. */
  accountIssuer?: { issuer: string; audience: string };
  allowedOrigins?: string[];
  endpointTimeoutMs?: number;
  /** A store to use instead of the embedded SQLite one. */
  store?: RelayStore;
  /**
   * A shared PostgreSQL database (`postgres://…`) instead of the embedded SQLite file, so several
   * relay instances can serve behind one load balancer. Ignored when `store` is given.
   */
  databaseUrl?: string;
  /** Connections this instance may hold to `databaseUrl` (default 10). */
  databasePoolMax?: number;
}

export interface RelayRuntime {
  deps: RelayDeps;
  publicUrl: string;
  server: Server;
  devIssuer: DevIssuer | null;
  allowOrigin(origin: string): void;
  close(): Promise<void>;
}

export async function startRelay(config: RelayConfig): Promise<RelayRuntime> {
  const dataDir = resolve(config.dataDir);
  ensurePrivateDir(dataDir);
  const clock = config.clock ?? systemClock;
  const host = config.host ?? '127.0.0.1';
  const key = await loadOrCreateSigningKey(join(dataDir, 'relay-key.json'));
  const ownStore = !config.store;
  const store =
    config.store ??
    (config.databaseUrl
      ? await openPgRelayStore(config.databaseUrl, { ...(config.databasePoolMax !== undefined && { max: config.databasePoolMax }) })
      : openSqliteRelayStore(join(dataDir, 'relay.sqlite')));
  const allowedOrigins = [...(config.allowedOrigins ?? [])];
  let publicUrl = config.publicUrl?.replace(/\/+$/, '') ?? '';
  let devIssuer: DevIssuer | null = null;
  const deps = {
    store,
    clock,
    relayIssuer: '',
    publicUrl: () => publicUrl,
    signingKey: { privateKey: key.privateKey, publicKey: await importJWK({ ...key.publicJwk, alg: 'EdDSA' }, 'EdDSA'), publicJwk: key.publicJwk, kid: key.kid },
    accountTokens: { verify: () => Promise.reject(new Error('relay is starting')) },
    ...(config.endpointTimeoutMs !== undefined && { endpointTimeoutMs: config.endpointTimeoutMs }),
  } as RelayDeps;

  const server = createServer(createRelayRequestHandler({ deps, devIssuer: null, allowedOrigins: () => allowedOrigins }));
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(config.port ?? 4200, host, () => ok());
    });
  } catch (error) {
    if (ownStore) await store.close(); // a database pool left open would keep the process alive
    throw error;
  }
  if (!publicUrl) publicUrl = `http://${host}:${(server.address() as AddressInfo).port}`;
  deps.relayIssuer = publicUrl;

  if (config.devIssuer) {
    devIssuer = await createDevIssuer({
      issuerUrl: `${publicUrl}/dev-issuer`,
      audience: DEV_AUDIENCE,
      keyFile: join(dataDir, 'dev-issuer-key.json'),
      clock,
      devMode: true,
      allowedOrigins,
    });
  }
  const issuer = config.accountIssuer ?? (devIssuer ? { issuer: devIssuer.issuer, audience: DEV_AUDIENCE } : null);
  if (!issuer) {
    await new Promise<void>((r) => server.close(() => r()));
    if (ownStore) await store.close();
    throw new Error('No account issuer: pass --account-issuer and --account-audience, or run with the dev issuer.');
  }
  deps.accountTokens = createOidcAccountTokenVerifier({ issuer: issuer.issuer, audience: issuer.audience, clock });
  server.removeAllListeners('request');
  server.on('request', createRelayRequestHandler({ deps, devIssuer, allowedOrigins: () => allowedOrigins }));

  const pruner = setInterval(() => void store.pruneMarkers(clock.now()).catch(() => undefined), 60_000);
  pruner.unref();

  return {
    deps,
    get publicUrl() {
      return publicUrl;
    },
    server,
    devIssuer,
    allowOrigin(origin) {
      if (!allowedOrigins.includes(origin)) allowedOrigins.push(origin);
      devIssuer?.allowOrigin(origin);
    },
    async close() {
      clearInterval(pruner);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      if (ownStore) await store.close(); // whoever opened a store closes it
    },
  };
}

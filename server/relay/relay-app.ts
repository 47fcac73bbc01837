// Composes one relay: store, key, account-token verifier, optional dev issuer, HTTP server.
import { importJWK } from 'jose';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRelayMetrics, routeOf, startMetricsServer, type RelayMetrics } from './metrics';
import type { DestinationStream } from 'pino';
import { createRequestLog } from '../common/request-log';
import { environmentOfHost } from './routing';
import { createBoundedServer } from '../common/server-limits';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../common/clock';
import { ensurePrivateDir } from '../common/files';
import { loadOrCreateSigningKey } from '../common/keys';
import { createOidcAccountTokenVerifier } from '../identity/account-token';
import { createDevIssuer, isLoopbackAddress, type DevIssuer } from '../identity/dev-issuer';
import type { RelayDeps } from './deps';
import { createRelayRequestHandler, isEnvironmentPageOrigin, SIGN_IN_CALLBACK_PATH } from './http';
import { openPgRelayStore } from './pg-store';
import { openSqliteRelayStore } from './sqlite-store';
import type { RelayStore } from './store';
import { checkSharedIdentity } from './identity';
import { createPeerHop, readInternalSecret, type PeerHop, type PeerHopObserver } from './peer-hop';
import { createTunnelLocations, type TunnelLocations } from './tunnel-locations';
import { randomBytes } from 'node:crypto';
import { createTunnelHub, type TunnelHub, type TunnelHubOptions } from './tunnel-hub';
import { createWaitSlots, type WaitLimits } from './wait-slots';
import { hostLabelOf } from '../common/environment-id';
import { checkTrustedProxies, createCallerAddress } from './client-address';
import { TUNNEL_PATH } from '../tunnel/tunnel-protocol';

export const DEV_AUDIENCE = 'gatehouse';
const LISTEN_BACKLOG = 4096;

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
  /** The client id clients sign in with at `accountIssuer` (default: its audience), published in gatehouse-configuration. */
  accountClientId?: string;
  /** Lifetime of the dev issuer's ID tokens (default 600 s); tests shorten it to see refreshes. */
  devIssuerIdTokenTtlSeconds?: number;
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
  /**
   * Environments' page origins are `{label}.{suffix}` (SPEC §11), e.g. `relay.example.com` with a
   * wildcard certificate. `'localhost'` means `{label}.localhost:{port}` (the embedded default).
   * Absent: the relay serves no pages.
   */
  environmentHostSuffix?: string;
  /** Direct endpoints on private, loopback or link-local addresses may be called (S52). */
  allowPrivateEndpoints?: boolean;
  /** Origins allowed as direct endpoints even when private. */
  allowedPrivateEndpointOrigins?: string[];
  /** Held waits allowed per account, key and address (S54). */
  waitLimits?: WaitLimits;
  /**
   * Where the other instances on `databaseUrl` reach this one (SPEC §12), e.g. `http://10.0.0.5:4300`;
   * this instance listens there for the internal hop (port 0: any free port). Needs `internalSecretFile`.
   */
  internalUrl?: string;
  /** A file holding the secret every instance shares (≥ 32 characters) for the internal hop. */
  internalSecretFile?: string;
  /** One JSON line per request (pino): `true` to stdout, or a stream of one's own; absent: none. */
  requestLog?: boolean | DestinationStream;
  /** Serve Prometheus metrics on this loopback address (SPEC §12); absent: no metrics listener. */
  metricsListen?: { host: string; port: number };
  /**
   * Reverse proxies in front of this relay, by the address they connect from: for their connections
   * the caller's address is the last X-Forwarded-For entry. Absent: the header is never believed.
   */
  trustedProxies?: string[];
  /** Tunnel liveness and drain timing (tests shorten them). */
  tunnel?: TunnelHubOptions;
}

export interface RelayRuntime {
  deps: RelayDeps;
  publicUrl: string;
  server: Server;
  devIssuer: DevIssuer | null;
  /** The browser origin of an environment's device page at this relay, or null when it serves none. */
  deviceOriginOf(environmentId: string): string | null;
  allowOrigin(origin: string): void;
  /** Where other instances reach this one's internal hop, when it has one. */
  internalUrl: string | null;
  /** Where this instance serves Prometheus metrics, when it does. */
  metricsUrl: string | null;
  /** Stops taking tunnels and lets environments move (GOAWAY), then closes. */
  drain(ms?: number): Promise<void>;
  close(): Promise<void>;
  /** Drops everything at once without telling anyone, as a killed process would (tests of failover). */
  abandon(): Promise<void>;
}

export async function startRelay(config: RelayConfig): Promise<RelayRuntime> {
  const dataDir = resolve(config.dataDir);
  ensurePrivateDir(dataDir);
  const clock = config.clock ?? systemClock;
  const host = config.host ?? '127.0.0.1';
  const keyFile = join(dataDir, 'relay-key.json');
  const key = await loadOrCreateSigningKey(keyFile);
  const ownStore = !config.store;
  const store =
    config.store ??
    (config.databaseUrl
      ? await openPgRelayStore(config.databaseUrl, { ...(config.databasePoolMax !== undefined && { max: config.databasePoolMax }) })
      : openSqliteRelayStore(join(dataDir, 'relay.sqlite')));
  const allowedOrigins = [...(config.allowedOrigins ?? [])];
  let publicUrl = config.publicUrl?.replace(/\/+$/, '') ?? '';
  let devIssuer: DevIssuer | null = null;
  let hostSuffix: string | null = null;
  const deviceOriginOf = (environmentId: string) => (hostSuffix ? `${new URL(publicUrl).protocol}//${hostLabelOf(environmentId)}.${hostSuffix}` : null);
  const deps = {
    store,
    clock,
    relayIssuer: '',
    publicUrl: () => publicUrl,
    signingKey: { privateKey: key.privateKey, publicKey: await importJWK({ ...key.publicJwk, alg: 'EdDSA' }, 'EdDSA'), publicJwk: key.publicJwk, kid: key.kid },
    accountTokens: { verify: () => Promise.reject(new Error('relay is starting')) },
    directEndpoints: { allowPrivate: config.allowPrivateEndpoints ?? false, allowedOrigins: config.allowedPrivateEndpointOrigins ?? [] },
    deviceOriginOf,
    waitSlots: createWaitSlots(config.waitLimits),
    callerAddress: createCallerAddress(checkTrustedProxies(config.trustedProxies ?? [])),
    tunnels: undefined as never, // made just below: the hub reads these deps when tunnels arrive
    ...(config.endpointTimeoutMs !== undefined && { endpointTimeoutMs: config.endpointTimeoutMs }),
  } as RelayDeps;
  let metrics: RelayMetrics | null = null;
  const tunnels = createTunnelHub(deps, { ...config.tunnel, onStream: () => metrics?.streamOpened() });
  deps.tunnels = tunnels;
  if (config.metricsListen) {
    metrics = createRelayMetrics({ tunnelsOpen: () => tunnels.count(), waitsHeld: () => deps.waitSlots.held() });
    deps.store = countingReplayErrors(store, metrics);
  }
  deps.onUnlinked = (environmentId) => tunnels.disconnect(environmentId);
  let internal: { server: Server; url: string; locations: TunnelLocations; peers: PeerHop } | null = null;
  try {
    internal = await startInternalHop(config, store, tunnels, clock, metrics?.hops);
  } catch (error) {
    if (ownStore) await store.close();
    throw error;
  }
  if (internal) {
    deps.peers = internal.peers;
    tunnels.setHooks(internal.locations);
  }
  const handlerOpts = { deps, allowedOrigins: () => allowedOrigins, environmentHostSuffix: () => hostSuffix };

  const requestLog = config.requestLog ? createRequestLog('relay', config.requestLog === true ? undefined : config.requestLog) : null;
  const counted = (handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>) => (req: IncomingMessage, res: ServerResponse) => {
    if (metrics || requestLog) {
      const route = routeOf(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!, environmentOfHost(req.headers.host, hostSuffix) !== null);
      metrics?.observe(req, res, route);
      requestLog?.observe(req, res, route);
    }
    return handle(req, res);
  };
  const server = createBoundedServer(counted(createRelayRequestHandler({ ...handlerOpts, devIssuer: null, signIn: null })));
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://relay.invalid').pathname === TUNNEL_PATH && deps.relayIssuer) return tunnels.handleUpgrade(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      // Bursts of new connections (many devices at once) wait in the kernel's queue instead of being reset.
      server.listen({ port: config.port ?? 4200, host, backlog: LISTEN_BACKLOG }, () => ok());
    });
  } catch (error) {
    await stopInternalHop(internal);
    if (ownStore) await store.close(); // a database pool left open would keep the process alive
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  if (!publicUrl) publicUrl = `http://${host}:${port}`;
  try {
    await checkSharedIdentity(store, { publicJwk: key.publicJwk, publicUrl, keyFile }, clock.now());
  } catch (error) {
    await new Promise<void>((r) => server.close(() => r()));
    await stopInternalHop(internal);
    if (ownStore) await store.close();
    throw error;
  }
  deps.relayIssuer = publicUrl;
  if (config.environmentHostSuffix) hostSuffix = config.environmentHostSuffix === 'localhost' ? `localhost:${port}` : config.environmentHostSuffix.replace(/^\.+/, '');

  if (config.devIssuer) {
    const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
    if (host !== 'localhost' && !isLoopbackAddress(host)) {
      console.warn(`[gatehouse relay] WARNING: the dev account issuer is on while the public URL ${publicUrl} is not loopback. It signs in anyone by name: use it for development only.`);
    }
    devIssuer = await createDevIssuer({
      issuerUrl: `${publicUrl}/dev-issuer`,
      audience: DEV_AUDIENCE,
      keyFile: join(dataDir, 'dev-issuer-key.json'),
      clock,
      devMode: true,
      allowedOrigins,
      // Browsers come back through the relay's own callback, which hands code and state to the device page.
      redirectUris: [`${publicUrl}${SIGN_IN_CALLBACK_PATH}`],
      ...(config.devIssuerIdTokenTtlSeconds !== undefined && { idTokenTtlSeconds: config.devIssuerIdTokenTtlSeconds }),
      // Device pages on `{label}.{suffix}` sign in here like the relay's client API lets them call it.
      allowsOrigin: (origin) => isEnvironmentPageOrigin(origin, hostSuffix),
    });
  }
  const issuer = config.accountIssuer ?? (devIssuer ? { issuer: devIssuer.issuer, audience: DEV_AUDIENCE } : null);
  if (!issuer) {
    await new Promise<void>((r) => server.close(() => r()));
    await stopInternalHop(internal);
    if (ownStore) await store.close();
    throw new Error('No account issuer: pass --account-issuer and --account-audience, or run with the dev issuer.');
  }
  deps.accountTokens = createOidcAccountTokenVerifier({ issuer: issuer.issuer, audience: issuer.audience, clock });
  const signIn = { accountIssuer: issuer.issuer, clientId: config.accountIssuer ? (config.accountClientId ?? issuer.audience) : DEV_AUDIENCE };
  server.removeAllListeners('request');
  server.on('request', counted(createRelayRequestHandler({ ...handlerOpts, devIssuer, signIn })));
  let metricsServer: { server: Server; url: string } | null = null;
  if (metrics && config.metricsListen) metricsServer = await startMetricsServer(metrics, config.metricsListen);

  const pruner = setInterval(() => void store.pruneMarkers(clock.now()).catch(() => undefined), 60_000);
  pruner.unref();

  return {
    deps,
    get publicUrl() {
      return publicUrl;
    },
    server,
    devIssuer,
    deviceOriginOf,
    allowOrigin(origin) {
      if (!allowedOrigins.includes(origin)) allowedOrigins.push(origin);
      devIssuer?.allowOrigin(origin);
    },
    internalUrl: internal?.url ?? null,
    metricsUrl: metricsServer?.url ?? null,
    drain: (ms) => tunnels.drain(ms),
    async close() {
      clearInterval(pruner);
      metricsServer?.server.close();
      tunnels.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await stopInternalHop(internal);
      if (ownStore) await store.close(); // whoever opened a store closes it
    },
    async abandon() {
      clearInterval(pruner);
      metricsServer?.server.close();
      internal?.locations.abandon();
      tunnels.abandon();
      server.closeAllConnections();
      server.close();
      internal?.server.closeAllConnections();
      internal?.server.close();
      internal?.peers.close();
      if (ownStore) await store.close();
    },
  };
}

/** With a shared database and an internal URL, tunnels are found across instances (SPEC §12). */
async function startInternalHop(config: RelayConfig, store: RelayStore, hub: TunnelHub, clock: Clock, observer?: PeerHopObserver) {
  if (!config.internalUrl) return null;
  if (!store.tunnelLocations) throw new Error('--internal-url is for several instances on one PostgreSQL database (--database-url).');
  if (!config.internalSecretFile) throw new Error('--internal-url needs --internal-secret-file: the secret every instance shares.');
  const secret = readInternalSecret(config.internalSecretFile);
  const wanted = new URL(config.internalUrl);
  if (wanted.protocol !== 'http:') throw new Error('--internal-url is an http:// URL on the instances\' private network (put TLS in front of it if that network is not private).');
  const server = createBoundedServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen({ port: Number(wanted.port || 80), host: wanted.hostname.replace(/^\[|\]$/g, '') }, () => ok());
  });
  wanted.port = String((server.address() as AddressInfo).port);
  const url = wanted.origin;
  const instance = { instanceId: `ri_${randomBytes(12).toString('base64url')}`, internalUrl: url };
  const locations = createTunnelLocations(store.tunnelLocations, instance, clock, { movedAway: (environmentId) => hub.retireLocal(environmentId) });
  const peers = createPeerHop({ secret, hub, locations, clock, observer });
  server.on('request', (req, res) => peers.handle(req, res));
  return { server, url, locations, peers };
}

async function stopInternalHop(internal: { server: Server; locations: TunnelLocations; peers: PeerHop } | null): Promise<void> {
  if (!internal) return;
  internal.server.closeAllConnections();
  await new Promise<void>((r) => internal.server.close(() => r()));
  internal.peers.close();
  await internal.locations.close();
}

/** The store as the relay uses it, counting replay-store failures (each refuses its request). */
function countingReplayErrors(store: RelayStore, metrics: RelayMetrics): RelayStore {
  const counting = Object.create(store) as RelayStore;
  counting.consumeMarker = async (...args) => {
    try {
      return await store.consumeMarker(...args);
    } catch (error) {
      metrics.replayStoreFailed();
      throw error;
    }
  };
  return counting;
}

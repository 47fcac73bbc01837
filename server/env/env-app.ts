// Composes one environment: database, keys, event bus, HTTP server. `gatehouse env start` and
// `gatehouse start` both run this.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { DestinationStream } from 'pino';
import { createRequestLog, REQUEST_ID_HEADER, requestIdOf, type RequestLog } from '../common/request-log';
import { createBoundedServer } from '../common/server-limits';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { adminTokenFile, envDatabaseFile, envKeyFile } from './data-files';
import { systemClock, type Clock } from '../common/clock';
import { ensurePrivateDir } from '../common/files';
import { openEnvDatabase } from './db/database';
import type { EnvDeps } from './deps';
import { syncEnvironmentId } from './environment.service';
import { AccessBus } from './events/access-bus';
import { createEnvRequestHandler } from './http';
import { authenticateClientRequest } from './connect/client-auth';
import { createLoginCode, loadOrCreateAdminToken } from './owner/owner-auth.service';
import { defaultWebRoot } from './web-static';
import { loadOrCreateSigningKey, type SigningKey } from '../common/keys';
import { createMintService, type MintService } from './connect/mint.service';
import { startApprovalExpiryTimer } from './connect/approval-expiry.service';
import { createConnectRoutes } from './connect/connect-routes';
import { linkToRelay, unlinkFromRelay } from './link/link-client';
import { readRelayLink, type RelayLink } from './link/link.service';
import { accountIssuerOrigins } from './link/account-issuer-origins';
import { startTunnelAgent, type TunnelAgent, type TunnelAgentOptions } from './tunnel/tunnel-agent';
import { startMarkerPruner } from './connect/replay';
import { createWebhookDispatcher } from './webhooks/webhook-dispatcher';
import { loadOrCreateWebhookKey, webhookKeyFile } from './webhooks/webhook-secrets';
import { isTunnelRequest } from './tunnel/tunnel-requests';

export interface EnvConfig {
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** What DPoP `htu`, cookies and the relay link use; defaults to http://<publicHost or host>:<port>. */
  publicUrl?: string;
  /**
   * The host name the default public URL names, when it differs from the listening address: the CLI
   * listens on 127.0.0.1 and names `localhost`, because WebAuthn refuses an IP address as a relying
   * party id (passkeys, SPEC §14) and browsers treat http://localhost as a secure context.
   */
  publicHost?: string;
  webRoot?: string;
  clock?: Clock;
  /** Origins (the relay) the web app may call, for the CSP. */
  connectOrigins?: string[];
  /** New pending clients admitted (S44); default 20/s with bursts of 100. */
  newClientRateLimit?: { perSecond: number; burst: number };
  /** New pending clients admitted per relay-signed source address; default 2/s with bursts of 10. */
  newClientRateLimitPerSource?: { perSecond: number; burst: number };
  /**
   * The tunnel to the linked relay (SPEC §11): on by default; it dials out whenever a link exists.
   * `false` keeps the environment reachable only at a direct endpoint.
   */
  /** `--allow-private-webhooks`: webhooks may target private, loopback and link-local addresses (S52). */
  allowPrivateWebhooks?: boolean;
  tunnel?: boolean | Pick<TunnelAgentOptions, 'pingIntervalMs' | 'deadAfterMs' | 'backoffBaseMs' | 'backoffMaxMs' | 'log' | 'random'>;
  /** One JSON line per request (pino), as the relay writes: `true` to stdout, or a stream of one's own; absent: none. */
  requestLog?: boolean | DestinationStream;
}

/** The route a request is logged under: a small fixed set, never an id or a caller's word. */
export function envRouteOf(method: string, pathname: string): string {
  if (pathname === '/api/connect/mint-credential') return 'mint';
  if (pathname === '/oauth/token') return 'token';
  if (pathname === '/trpc/access.events') return 'events';
  if (pathname.startsWith('/trpc/client.')) return 'client_trpc';
  if (pathname.startsWith('/trpc/')) return 'owner_trpc';
  if (pathname === '/login' || pathname === '/login.js') return 'login';
  if (pathname === '/logout') return 'logout';
  if (pathname === '/healthz') return 'health';
  if (pathname === '/api/connect/config') return 'config';
  if (method === 'GET' || method === 'HEAD') return 'web';
  return 'other';
}

/**
 * Logs each request once: on a tunnel stream under the relay's request id (one id for both lines,
 * and the relay already answers it as x-request-id); on the environment's own port under a new one.
 */
function observeRequest(log: RequestLog, req: IncomingMessage, res: ServerResponse): void {
  const tunnel = isTunnelRequest(req);
  const route = envRouteOf(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!);
  log.observe(req, res, route, { fields: { via: tunnel ? 'tunnel' : 'local' }, ...(tunnel && { requestId: requestIdOf(req.headers[REQUEST_ID_HEADER]), sendHeader: false }) });
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
  /** The tunnel to the relay, or null when it is turned off. */
  tunnel: TunnelAgent | null;
  /** Set when this data directory had an id from before self-certifying ids: it must link again. */
  previousEnvironmentId: string | null;
  loginUrl(): string;
  /** Links to a relay; with `directEndpoint` the relay may also call this environment directly. */
  link(relayUrl: string, idToken: string, opts?: { directEndpoint?: string }): Promise<RelayLink>;
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
  const signingKey = await loadOrCreateSigningKey(envKeyFile(dataDir));
  const { environmentId, previousId } = await syncEnvironmentId(deps, signingKey.publicJwk);
  const adminToken = loadOrCreateAdminToken(adminTokenFile(dataDir));
  deps.webhooks = { sealKey: loadOrCreateWebhookKey(webhookKeyFile(dataDir)), allowPrivate: config.allowPrivateWebhooks ?? false, publicUrl: () => publicUrl };
  const webhookDispatcher = createWebhookDispatcher(deps, deps.webhooks);
  deps.ownOrigin = () => new URL(publicUrl).origin;
  const mint = createMintService({
    deps,
    environmentId,
    signingKey,
    ...(config.newClientRateLimit && { newClientRateLimit: config.newClientRateLimit }),
    ...(config.newClientRateLimitPerSource && { newClientRateLimitPerSource: config.newClientRateLimitPerSource }),
  });
  const host = config.host ?? '127.0.0.1';
  let publicUrl = config.publicUrl ?? '';
  const connectOrigins = [...(config.connectOrigins ?? [])];
  const allowConnectOrigin = (origin: string) => void (connectOrigins.includes(origin) || connectOrigins.push(origin));
  const linked = readRelayLink(deps);
  if (linked) allowConnectOrigin(new URL(linked.relayUrl).origin);
  // The /device page signs in at the account issuer the relay names: its origins join connect-src.
  // Learned on link and at start; a failed attempt is tried again (at most every 30 s) as pages load.
  const issuerOrigins = { relayUrl: linked?.relayUrl ?? null, learned: false, triedAt: 0 };
  const learnAccountIssuer = async () => {
    const relayUrl = issuerOrigins.relayUrl;
    if (!relayUrl) return;
    issuerOrigins.triedAt = Date.now();
    try {
      for (const origin of await accountIssuerOrigins(relayUrl)) allowConnectOrigin(origin);
      if (issuerOrigins.relayUrl === relayUrl) issuerOrigins.learned = true;
    } catch {
      // The relay or its issuer is not reachable now; the next page load tries again.
    }
  };
  const pageConnectOrigins = () => {
    if (!issuerOrigins.learned && issuerOrigins.relayUrl && Date.now() - issuerOrigins.triedAt > 30_000) void learnAccountIssuer();
    return connectOrigins;
  };
  // DPoP htu: this environment's own URL, and its routed endpoint at the relay (SPEC §11).
  let baseUrlCache: { link: RelayLink | null; publicUrl: string; urls: readonly string[] } | null = null;
  const baseUrls = (): readonly string[] => {
    const link = readRelayLink(deps);
    if (baseUrlCache?.link?.routedEndpoint !== link?.routedEndpoint || baseUrlCache?.publicUrl !== publicUrl) {
      baseUrlCache = { link, publicUrl, urls: Object.freeze([publicUrl, ...(link?.routedEndpoint ? [link.routedEndpoint] : [])]) };
    }
    return baseUrlCache.urls;
  };

  const handler = createEnvRequestHandler({
      deps,
      environmentId,
      adminToken,
      publicUrl: () => publicUrl,
      webRoot: config.webRoot ?? defaultWebRoot,
      connectOrigins: pageConnectOrigins,
      authenticateClient: (req) => authenticateClientRequest(deps, req, baseUrls()),
      relayUrl: () => readRelayLink(deps)?.relayUrl ?? null,
      routes: createConnectRoutes({ deps, mint, baseUrls, environmentId }),
    });
  const requestLog = config.requestLog ? createRequestLog('env', config.requestLog === true ? undefined : config.requestLog) : null;
  const server = createBoundedServer(
    requestLog
      ? (req, res) => {
          observeRequest(requestLog, req, res);
          return handler(req, res);
        }
      : handler,
  );
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port ?? 4100, host, () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  if (!publicUrl) {
    const named = config.publicHost ?? host;
    publicUrl = `http://${named.includes(':') ? `[${named}]` : named}:${port}`;
  }
  const stopPruning = startMarkerPruner(deps);
  const approvalTimer = startApprovalExpiryTimer(deps);
  publicUrl = publicUrl.replace(/\/+$/, '');
  webhookDispatcher.start();
  void learnAccountIssuer();
  const tunnel =
    config.tunnel === false ? null : startTunnelAgent({
          deps,
          environmentId,
          signingKey,
          handler,
          ...(requestLog && { onRequest: (req: IncomingMessage, res: ServerResponse) => observeRequest(requestLog, req, res) }),
          ...(typeof config.tunnel === 'object' && config.tunnel),
        });
  deps.publicUrl = () => publicUrl;
  deps.tunnelStatus = tunnel ? () => tunnel.status() : () => ({ state: 'disabled' });

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
    tunnel,
    previousEnvironmentId: previousId,
    async link(relayUrl, idToken, linkOpts = {}) {
      const link = await linkToRelay({ deps, environmentId, signingKey, directEndpoint: linkOpts.directEndpoint }, relayUrl, idToken);
      allowConnectOrigin(new URL(link.relayUrl).origin);
      Object.assign(issuerOrigins, { relayUrl: link.relayUrl, learned: false });
      void learnAccountIssuer();
      tunnel?.poke();
      return link;
    },
    unlink: () => unlinkFromRelay({ deps, environmentId, signingKey }),
    allowConnectOrigin,
    loginUrl: () => `${publicUrl}/login#code=${createLoginCode(deps).code}`,
    async close() {
      await tunnel?.stop();
      stopPruning();
      await webhookDispatcher.stop();
      approvalTimer.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      db.$client.close();
    },
  };
}

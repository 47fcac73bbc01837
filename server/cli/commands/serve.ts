// Long-running commands: `gatehouse start`, `gatehouse env start`, `gatehouse relay start`.
// With --json each prints one JSON object (its URLs and ids) on stdout once it is ready; its logs
// (tunnel status, request lines) then go to stderr, so stdout holds exactly that object.
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino, { type DestinationStream } from 'pino';
import { startEnvironment, type EnvRuntime } from '../../env/env-app';
import { readRelayLink, type RelayLink } from '../../env/link/link.service';
import { CliError } from '../options';
import { devIdToken } from './dev-id-token';
import { describeDatabaseUrl } from '../../relay/pg-store';
import { startRelay, type RelayRuntime } from '../../relay/relay-app';
import { clearRuntimeInfo, writeRuntimeInfo } from '../runtime-file';

export const relayDataDir = (dataDir: string) => join(dataDir, 'relay');

/** Resolves when the process is asked to stop. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => resolve(signal);
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** Human lines on stdout, or (with --json) nothing there but the one object `ready` prints. */
function announcer(json: boolean) {
  return {
    json,
    line: (text = '') => void (json || console.log(text)),
    /** Logs that run on: stdout for people, stderr under --json. */
    log: (text: string) => void (json ? console.error(text) : console.log(text)),
    ready: (value: Record<string, unknown>) => void (json && process.stdout.write(`${JSON.stringify(value)}\n`)),
    /** Where one JSON line per request goes. */
    requestLog: (): true | DestinationStream => (json ? pino.destination({ dest: 2, sync: false }) : true),
  };
}
type Announcer = ReturnType<typeof announcer>;

/**
 * A port someone else holds is the usual first-run failure (another Gatehouse, an old one still
 * running): say which port and which flags pick others, instead of Node's `listen EADDRINUSE`.
 */
async function listening<T>(what: string, flags: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { port?: number; address?: string };
    if (e.code === 'EADDRINUSE') {
      throw new CliError(`The ${what} port ${e.address ?? '127.0.0.1'}:${e.port ?? '?'} is already in use (another Gatehouse still running?). Stop that one, or pick other ports: ${flags} (0 picks a free one).`);
    }
    if (e.code === 'EACCES' && e.port !== undefined) throw new CliError(`Not allowed to listen on port ${e.port} (ports below 1024 need privileges). Pick another: ${flags}.`);
    throw error;
  }
}

function announceEnv(a: Announcer, env: EnvRuntime) {
  a.line(`Environment   ${env.publicUrl}   (id ${env.environmentId})`);
  a.line(`Data          ${env.dataDir}`);
  if (env.previousEnvironmentId) {
    const note = `the environment id is now derived from its key (was ${env.previousEnvironmentId}); the old relay link was dropped: link again.`;
    if (a.json) console.error(`Note: ${note}`);
    else a.line(`Note          ${note}`);
  }
}

/** Where devices reach the environment through the relay. */
function announceRouted(a: Announcer, link: RelayLink) {
  if (link.routedEndpoint) a.line(`Endpoint      ${link.routedEndpoint}   (through the relay's tunnel)`);
  if (link.deviceOrigin) a.line(`Device page   ${link.deviceOrigin}/device   (through the relay)`);
}

function announceLogin(a: Announcer, loginUrl: string) {
  a.line('');
  a.line('Owner login (one use, valid 10 minutes):');
  a.line(`  ${loginUrl}`);
  a.line('  A new link any time: npx gatehouse owner login-url');
}

/** What --json prints for an environment: the same facts as the human banner. */
function envFacts(env: EnvRuntime, link: RelayLink | null, loginUrl: string) {
  return {
    environmentId: env.environmentId,
    environmentUrl: env.publicUrl,
    dataDir: env.dataDir,
    relayUrl: link?.relayUrl ?? null,
    accountId: link?.accountId ?? null,
    endpoint: link?.routedEndpoint ?? null,
    devicePageUrl: link?.deviceOrigin ? `${link.deviceOrigin}/device` : null,
    settingsUrl: `${env.publicUrl}/settings/connections`,
    loginUrl,
  };
}

export async function runStart(opts: { dataDir: string; envPort: number; relayPort: number; json?: boolean; allowPrivateWebhooks?: boolean }): Promise<number> {
  const a = announcer(!!opts.json);
  const portFlags = '--env-port N --relay-port N';
  const relay: RelayRuntime = await listening('relay', portFlags, () =>
    startRelay({ dataDir: relayDataDir(opts.dataDir), port: opts.relayPort, devIssuer: true, environmentHostSuffix: 'localhost' }),
  );
  let env: EnvRuntime;
  try {
    env = await listening('environment', portFlags, () =>
      startEnvironment({ dataDir: opts.dataDir, port: opts.envPort, publicHost: 'localhost', connectOrigins: [relay.publicUrl], tunnel: { log: a.log }, allowPrivateWebhooks: !!opts.allowPrivateWebhooks }),
    );
  } catch (error) {
    await relay.close();
    throw error;
  }
  relay.allowOrigin(env.publicUrl);
  const idToken = await relay.devIssuer!.issueIdToken('owner');
  // The embedded default goes through the tunnel, as an environment behind NAT does.
  const link = await env.link(relay.publicUrl, idToken);
  const deviceOrigin = relay.deviceOriginOf(env.environmentId);
  if (deviceOrigin) relay.allowOrigin(deviceOrigin);
  writeRuntimeInfo(opts.dataDir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId, relayUrl: relay.publicUrl });

  const loginUrl = env.loginUrl();
  a.ready({ ...envFacts(env, link, loginUrl), devIssuerUrl: `${relay.publicUrl}/dev-issuer` });
  a.line('Gatehouse is running (embedded default: relay + environment + dev account issuer).');
  a.line('');
  announceEnv(a, env);
  a.line(`Relay         ${relay.publicUrl}   (dev issuer at ${relay.publicUrl}/dev-issuer)`);
  a.line(`Linked        account "${link.accountId}"`);
  announceRouted(a, link);
  a.line(`Settings      ${env.publicUrl}/settings/connections   (owner only: never through the relay)`);
  announceLogin(a, loginUrl);
  a.line('');
  a.line('Connect a client from another terminal (sign in first, any username):');
  a.line(`  npx gatehouse login --relay ${relay.publicUrl}`);
  a.line(`  npx gatehouse client connect --data-dir ${opts.dataDir}`);
  a.line('');
  a.line('Press Ctrl+C to stop.');

  await untilSignal();
  a.log('\nStopping…');
  clearRuntimeInfo(opts.dataDir);
  await env.close();
  await relay.close();
  return 0;
}

export async function runEnvStart(opts: { dataDir: string; port: number; publicUrl?: string; relay?: string; account?: string; idToken?: string; json?: boolean; allowPrivateWebhooks?: boolean }): Promise<number> {
  const a = announcer(!!opts.json);
  const env = await listening('environment', '--port N', () =>
    startEnvironment({
      dataDir: opts.dataDir,
      port: opts.port,
      ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : { publicHost: 'localhost' }),
      allowPrivateWebhooks: !!opts.allowPrivateWebhooks,
      tunnel: { log: a.log },
      requestLog: a.requestLog(), // one JSON line per request, as the relay writes
    }),
  );
  let link = readRelayLink(env.deps);
  try {
    if (opts.relay && link?.relayUrl !== opts.relay.replace(/\/+$/, '')) {
      if (!opts.account && !opts.idToken) {
        throw new CliError(
          link
            ? `This environment is linked to ${link.relayUrl}, not ${opts.relay}. Link it there first (add --account NAME or --id-token JWT), or start without --relay.`
            : `This environment is not linked to ${opts.relay} yet. Add --account NAME (dev issuer) or --id-token JWT to link it now.`,
        );
      }
      link = await env.link(opts.relay, opts.idToken ?? (await devIdToken(opts.relay, opts.account!, true)));
    }
  } catch (error) {
    await env.close();
    throw error;
  }
  writeRuntimeInfo(opts.dataDir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId, relayUrl: link?.relayUrl ?? null });
  const loginUrl = env.loginUrl();
  a.ready(envFacts(env, link, loginUrl));
  a.line('Gatehouse environment is running.');
  announceEnv(a, env);
  a.line(link ? `Linked        relay ${link.relayUrl}, account "${link.accountId}"` : 'Linked        no — run: npx gatehouse env start --relay URL --account NAME (or npx gatehouse connect link)');
  if (link) announceRouted(a, link);
  a.line(`Listening     ${env.publicUrl} for its owner (settings page, CLI); devices come through the relay`);
  announceLogin(a, loginUrl);
  await untilSignal();
  clearRuntimeInfo(opts.dataDir);
  await env.close();
  return 0;
}

export async function runRelayStart(opts: {
  dataDir: string;
  port: number;
  publicUrl?: string;
  databaseUrl?: string;
  devIssuer: boolean;
  accountIssuer?: { issuer: string; audience: string };
  accountClientId?: string;
  allowedOrigins: string[];
  environmentHostSuffix?: string;
  allowPrivateEndpoints?: boolean;
  internalUrl?: string;
  internalSecretFile?: string;
  metricsListen?: { host: string; port: number };
  trustedProxies?: string[];
  json?: boolean;
}): Promise<number> {
  const a = announcer(!!opts.json);
  const relay = await listening('relay', '--port N (and --internal-url, --metrics-listen)', () =>
    startRelay({
      ...(opts.internalUrl && { internalUrl: opts.internalUrl, internalSecretFile: opts.internalSecretFile! }),
      dataDir: opts.dataDir,
      port: opts.port,
      devIssuer: opts.devIssuer,
      allowedOrigins: opts.allowedOrigins,
      ...(opts.environmentHostSuffix && { environmentHostSuffix: opts.environmentHostSuffix }),
      ...(opts.allowPrivateEndpoints && { allowPrivateEndpoints: true }),
      ...(opts.metricsListen && { metricsListen: opts.metricsListen }),
      ...(opts.trustedProxies && { trustedProxies: opts.trustedProxies }),
      requestLog: a.requestLog(), // one JSON line per request
      ...(opts.databaseUrl && { databaseUrl: opts.databaseUrl }),
      ...(opts.publicUrl && { publicUrl: opts.publicUrl }),
      ...(opts.accountIssuer && { accountIssuer: opts.accountIssuer }),
      ...(opts.accountClientId && { accountClientId: opts.accountClientId }),
    }),
  );
  const bound = relay.server.address() as AddressInfo;
  // Where it listens, which behind a proxy is not the public URL.
  const listenUrl = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  a.ready({
    relayUrl: relay.publicUrl,
    listenUrl,
    dataDir: opts.dataDir,
    store: opts.databaseUrl ? 'postgresql' : 'sqlite',
    internalUrl: relay.internalUrl,
    devIssuerUrl: relay.devIssuer?.issuer ?? null,
    tunnelUrl: `${relay.publicUrl.replace(/^http/, 'ws')}/v1/tunnel`,
    environmentHostSuffix: opts.environmentHostSuffix ?? null,
    metricsUrl: relay.metricsUrl,
  });
  a.line('Gatehouse relay is running.');
  a.line(`Relay         ${relay.publicUrl}`);
  if (listenUrl !== relay.publicUrl) a.line(`Listening     ${listenUrl} (the proxy in front of it serves ${relay.publicUrl})`);
  a.line(`Data          ${opts.dataDir}`);
  a.line(`Store         ${opts.databaseUrl ? `PostgreSQL ${describeDatabaseUrl(opts.databaseUrl)} (shared by every relay instance on it)` : 'SQLite (embedded, this instance only)'}`);
  if (relay.internalUrl) a.line(`Internal hop  ${relay.internalUrl} (other relay instances forward to tunnels held here)`);
  if (relay.devIssuer) a.line(`Dev issuer    ${relay.devIssuer.issuer} (oidc-provider, any username, loopback callers only)`);
  a.line(`Sign in       npx gatehouse login --relay ${relay.publicUrl}   (clients find the account issuer at ${relay.publicUrl}/.well-known/gatehouse-configuration)`);
  a.line(`Tunnels       ${relay.publicUrl.replace(/^http/, 'ws')}/v1/tunnel; devices reach environments at ${relay.publicUrl}/e/<environment id>`);
  if (opts.environmentHostSuffix) a.line(`Device pages  on <label>.${opts.environmentHostSuffix}`);
  if (relay.metricsUrl) a.line(`Metrics       ${relay.metricsUrl}`);
  const signal = await untilSignal();
  if (signal === 'SIGTERM') {
    a.log('Draining: environments are asked to move (GOAWAY); open streams may finish.');
    await relay.drain(10_000);
  }
  await relay.close();
  return 0;
}

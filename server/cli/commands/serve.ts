// Long-running commands: `gatehouse start`, `gatehouse env start`, `gatehouse relay start`.
import { join } from 'node:path';
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

function announceEnv(env: EnvRuntime) {
  console.log(`Environment   ${env.publicUrl}   (id ${env.environmentId})`);
  console.log(`Data          ${env.dataDir}`);
  if (env.previousEnvironmentId) {
    console.log(`Note          the environment id is now derived from its key (was ${env.previousEnvironmentId}); the old relay link was dropped: link again.`);
  }
}

/** Where devices reach the environment through the relay. */
function announceRouted(link: RelayLink) {
  if (link.routedEndpoint) console.log(`Endpoint      ${link.routedEndpoint}   (through the relay's tunnel)`);
  if (link.deviceOrigin) console.log(`Device page   ${link.deviceOrigin}/device   (through the relay)`);
}

function announceLogin(env: EnvRuntime) {
  console.log('');
  console.log('Owner login (one use, valid 10 minutes):');
  console.log(`  ${env.loginUrl()}`);
  console.log('  A new link any time: npm run gatehouse -- owner login-url');
}

export async function runStart(opts: { dataDir: string; envPort: number; relayPort: number; allowPrivateWebhooks?: boolean }): Promise<number> {
  const relay: RelayRuntime = await startRelay({ dataDir: relayDataDir(opts.dataDir), port: opts.relayPort, devIssuer: true, environmentHostSuffix: 'localhost' });
  let env: EnvRuntime;
  try {
    env = await startEnvironment({ dataDir: opts.dataDir, port: opts.envPort, connectOrigins: [relay.publicUrl], allowPrivateWebhooks: !!opts.allowPrivateWebhooks });
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

  console.log('Gatehouse is running (embedded default: relay + environment + dev account issuer).');
  console.log('');
  announceEnv(env);
  console.log(`Relay         ${relay.publicUrl}   (dev issuer at ${relay.publicUrl}/dev-issuer)`);
  console.log(`Linked        account "${link.accountId}"`);
  announceRouted(link);
  console.log(`Settings      ${env.publicUrl}/settings/connections   (owner only: never through the relay)`);
  announceLogin(env);
  console.log('');
  console.log('Connect a client from another terminal (sign in first, any username):');
  console.log(`  npm run gatehouse -- login --relay ${relay.publicUrl}`);
  console.log(`  npm run gatehouse -- client connect --environment ${env.environmentId} --relay ${relay.publicUrl}`);
  console.log('');
  console.log('Press Ctrl+C to stop.');

  await untilSignal();
  console.log('\nStopping…');
  clearRuntimeInfo(opts.dataDir);
  await env.close();
  await relay.close();
  return 0;
}

export async function runEnvStart(opts: { dataDir: string; port: number; publicUrl?: string; relay?: string; account?: string; idToken?: string; allowPrivateWebhooks?: boolean }): Promise<number> {
  const env = await startEnvironment({ dataDir: opts.dataDir, port: opts.port, ...(opts.publicUrl && { publicUrl: opts.publicUrl }), allowPrivateWebhooks: !!opts.allowPrivateWebhooks });
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
  console.log('Gatehouse environment is running.');
  announceEnv(env);
  console.log(link ? `Linked        relay ${link.relayUrl}, account "${link.accountId}"` : 'Linked        no — run: gatehouse env start --relay URL --account NAME (or gatehouse connect link)');
  if (link) announceRouted(link);
  console.log(`Listening     ${env.publicUrl} for its owner (settings page, CLI); devices come through the relay`);
  announceLogin(env);
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
}): Promise<number> {
  const relay = await startRelay({
    ...(opts.internalUrl && { internalUrl: opts.internalUrl, internalSecretFile: opts.internalSecretFile! }),
    dataDir: opts.dataDir,
    port: opts.port,
    devIssuer: opts.devIssuer,
    allowedOrigins: opts.allowedOrigins,
    ...(opts.environmentHostSuffix && { environmentHostSuffix: opts.environmentHostSuffix }),
    ...(opts.allowPrivateEndpoints && { allowPrivateEndpoints: true }),
    ...(opts.metricsListen && { metricsListen: opts.metricsListen }),
    requestLog: true, // one JSON line per request on stdout
    ...(opts.databaseUrl && { databaseUrl: opts.databaseUrl }),
    ...(opts.publicUrl && { publicUrl: opts.publicUrl }),
    ...(opts.accountIssuer && { accountIssuer: opts.accountIssuer }),
    ...(opts.accountClientId && { accountClientId: opts.accountClientId }),
  });
  console.log('Gatehouse relay is running.');
  console.log(`Relay         ${relay.publicUrl}`);
  console.log(`Data          ${opts.dataDir}`);
  console.log(`Store         ${opts.databaseUrl ? `PostgreSQL ${describeDatabaseUrl(opts.databaseUrl)} (shared by every relay instance on it)` : 'SQLite (embedded, this instance only)'}`);
  if (relay.internalUrl) console.log(`Internal hop  ${relay.internalUrl} (other relay instances forward to tunnels held here)`);
  if (relay.devIssuer) console.log(`Dev issuer    ${relay.devIssuer.issuer} (oidc-provider, any username, loopback callers only)`);
  console.log(`Sign in       npx gatehouse login --relay ${relay.publicUrl}   (clients find the account issuer at ${relay.publicUrl}/.well-known/gatehouse-configuration)`);
  console.log(`Tunnels       ${relay.publicUrl.replace(/^http/, 'ws')}/v1/tunnel; devices reach environments at ${relay.publicUrl}/e/<environment id>`);
  if (opts.environmentHostSuffix) console.log(`Device pages  on <label>.${opts.environmentHostSuffix}`);
  if (relay.metricsUrl) console.log(`Metrics       ${relay.metricsUrl}`);
  const signal = await untilSignal();
  if (signal === 'SIGTERM') {
    console.log('Draining: environments are asked to move (GOAWAY); open streams may finish.');
    await relay.drain(10_000);
  }
  await relay.close();
  return 0;
}

// Long-running commands: `gatehouse start`, `gatehouse env start`, `gatehouse relay start`.
import { join } from 'node:path';
import { startEnvironment, type EnvRuntime } from '../../env/env-app';
import { readRelayLink } from '../../env/link/link.service';
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
}

function announceLogin(env: EnvRuntime) {
  console.log('');
  console.log('Owner login (one use, valid 10 minutes):');
  console.log(`  ${env.loginUrl()}`);
  console.log('  A new link any time: npm run gatehouse -- owner login-url');
}

export async function runStart(opts: { dataDir: string; envPort: number; relayPort: number }): Promise<number> {
  const relay: RelayRuntime = await startRelay({ dataDir: relayDataDir(opts.dataDir), port: opts.relayPort, devIssuer: true });
  let env: EnvRuntime;
  try {
    env = await startEnvironment({ dataDir: opts.dataDir, port: opts.envPort, connectOrigins: [relay.publicUrl] });
  } catch (error) {
    await relay.close();
    throw error;
  }
  relay.allowOrigin(env.publicUrl);
  const idToken = await relay.devIssuer!.issueIdToken('owner');
  const link = await env.link(relay.publicUrl, idToken);
  writeRuntimeInfo(opts.dataDir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId, relayUrl: relay.publicUrl });

  console.log('Gatehouse is running (embedded default: relay + environment + dev account issuer).');
  console.log('');
  announceEnv(env);
  console.log(`Relay         ${relay.publicUrl}   (dev issuer at ${relay.publicUrl}/dev-issuer)`);
  console.log(`Linked        account "${link.accountId}"`);
  console.log(`Settings      ${env.publicUrl}/settings/connections`);
  console.log(`Device page   ${env.publicUrl}/device`);
  announceLogin(env);
  console.log('');
  console.log('Connect a client from another terminal:');
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

export async function runEnvStart(opts: { dataDir: string; port: number; publicUrl?: string }): Promise<number> {
  const env = await startEnvironment({ dataDir: opts.dataDir, port: opts.port, ...(opts.publicUrl && { publicUrl: opts.publicUrl }) });
  const link = readRelayLink(env.deps);
  if (link) env.allowConnectOrigin(new URL(link.relayUrl).origin);
  writeRuntimeInfo(opts.dataDir, { pid: process.pid, url: env.publicUrl, environmentId: env.environmentId, relayUrl: link?.relayUrl ?? null });
  console.log('Gatehouse environment is running.');
  announceEnv(env);
  console.log(link ? `Linked        relay ${link.relayUrl}, account "${link.accountId}"` : 'Linked        no — run: gatehouse connect link --relay URL --account NAME');
  announceLogin(env);
  await untilSignal();
  clearRuntimeInfo(opts.dataDir);
  await env.close();
  return 0;
}

export async function runRelayStart(opts: { dataDir: string; port: number; publicUrl?: string; databaseUrl?: string; devIssuer: boolean; accountIssuer?: { issuer: string; audience: string }; allowedOrigins: string[] }): Promise<number> {
  const relay = await startRelay({
    dataDir: opts.dataDir,
    port: opts.port,
    devIssuer: opts.devIssuer,
    allowedOrigins: opts.allowedOrigins,
    ...(opts.databaseUrl && { databaseUrl: opts.databaseUrl }),
    ...(opts.publicUrl && { publicUrl: opts.publicUrl }),
    ...(opts.accountIssuer && { accountIssuer: opts.accountIssuer }),
  });
  console.log('Gatehouse relay is running.');
  console.log(`Relay         ${relay.publicUrl}`);
  console.log(`Data          ${opts.dataDir}`);
  console.log(`Store         ${opts.databaseUrl ? `PostgreSQL ${describeDatabaseUrl(opts.databaseUrl)} (shared by every relay instance on it)` : 'SQLite (embedded, this instance only)'}`);
  if (relay.devIssuer) console.log(`Dev issuer    ${relay.devIssuer.issuer} (loopback callers only)`);
  await untilSignal();
  await relay.close();
  return 0;
}

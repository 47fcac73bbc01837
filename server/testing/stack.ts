// A real relay + environment on 127.0.0.1 with fresh data directories, for integration tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectToEnvironment, type ConnectOptions } from '../../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../shared/dpop';
import { createOwnerClient } from '../env/owner/owner-client';
import { startEnvironment, type EnvConfig, type EnvRuntime } from '../env/env-app';
import { startRelay, type RelayConfig, type RelayRuntime } from '../relay/relay-app';

export interface Stack {
  relay: RelayRuntime;
  env: EnvRuntime;
  owner: ReturnType<typeof createOwnerClient>;
  idToken(account?: string): Promise<string>;
  newSigner(): Promise<DpopSigner>;
  connect(signer: DpopSigner, over?: Partial<ConnectOptions>): ReturnType<typeof connectToEnvironment>;
  close(): Promise<void>;
}

/**
 * `direct`: the environment has no tunnel and the relay calls it at its own URL (a direct endpoint
 * on loopback, so the relay allows private endpoints). Otherwise it is reached through its tunnel.
 */
export async function startStack(opts: { env?: Partial<EnvConfig>; relay?: Partial<RelayConfig>; direct?: boolean } = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-stack-'));
  const relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true, ...(opts.direct && { allowPrivateEndpoints: true }), ...opts.relay });
  const env = await startEnvironment({ dataDir: join(dir, 'env'), port: 0, connectOrigins: [relay.publicUrl], ...(opts.direct && { tunnel: false }), ...opts.env });
  const idToken = (account = 'owner') => relay.devIssuer!.issueIdToken(account);
  await env.link(relay.publicUrl, await idToken(), opts.direct ? { directEndpoint: env.publicUrl } : {});
  if (!opts.direct) await waitForTunnel({ relay, env });
  return {
    relay,
    env,
    owner: createOwnerClient(env.publicUrl, env.adminToken, 'api'),
    idToken,
    newSigner: async () => createDpopSigner(await generateDpopKeyPair(false)),
    connect: (signer, over = {}) =>
      connectToEnvironment({ relayUrl: relay.publicUrl, environmentId: env.environmentId, signer, getIdToken: () => idToken(), ...over }),
    async close() {
      await env.close();
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the relay holds the environment's tunnel (the environment dials out on its own). */
export function waitForTunnel(stack: Pick<Stack, 'relay' | 'env'>): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (stack.relay.deps.tunnels.has(stack.env.environmentId) && stack.env.tunnel?.status().state === 'connected' ? resolve() : setTimeout(check, 5));
    check();
  });
}

// `gatehouse client connect`: this machine as a client device (SPEC §8).
import { hostname, platform } from 'node:os';
import { join } from 'node:path';
import { connectToEnvironment, createEnvClient, type PendingInfo, type RetryInfo } from '../../../shared/client/connect';
import { ConnectionBlockedError } from '../../../shared/client/errors';
import { verificationCode } from '../../../shared/verification-code';
import type { EnvRouter } from '../../env/trpc/app-router';
import { EXIT, UsageError } from '../options';
import { loadOrCreateClientKey } from '../node-key-store';
import type { Output } from '../output';
import { readRuntimeInfo } from '../runtime-file';
import { devIdToken } from './dev-id-token';

const osName = (): string => ({ linux: 'Linux', darwin: 'macOS', win32: 'Windows' })[platform() as string] ?? platform();

export const DEFAULT_RELAY_URL = 'http://127.0.0.1:4200';

export interface ClientConnectOptions {
  dataDir: string;
  environment: string;
  relay: string;
  /** Where the relay URL came from, said once so a wrong guess is visible. */
  relaySource?: 'flag' | 'data-dir' | 'default';
  account: string;
  /** An account ID token from a real provider; without it the relay's dev issuer signs `account` in. */
  idToken?: string;
  keyFile?: string;
  label?: string;
  wait: boolean;
}

/**
 * Which environment and relay to ask: flags (or $GATEHOUSE_RELAY_URL) first, else what the
 * environment running on this data directory recorded (so non-default ports just work), else the
 * embedded default's relay.
 */
export function resolveClientTarget(dataDir: string, given: { environment?: string | undefined; relay?: string | undefined }): Pick<ClientConnectOptions, 'environment' | 'relay' | 'relaySource'> {
  const running = readRuntimeInfo(dataDir);
  const environment = given.environment ?? running?.environmentId;
  if (!environment) {
    throw new UsageError(`Pass --environment ID (\`npx gatehouse start\` prints it), or --data-dir of a running environment (none is running on ${dataDir}).`);
  }
  if (given.relay) return { environment, relay: given.relay, relaySource: 'flag' };
  if (running?.relayUrl) return { environment, relay: running.relayUrl.replace(/\/+$/, ''), relaySource: 'data-dir' };
  return { environment, relay: DEFAULT_RELAY_URL, relaySource: 'default' };
}

/** What a waiting client says while the relay or environment is away, and what it does next. */
export function retryLine(r: RetryInfo): string {
  const when = r.retryInMs < 1000 ? 'in a moment' : `in ${Math.round(r.retryInMs / 1000)} s`;
  if (r.reason === 'environment_offline') return `The environment is offline (not connected to the relay); retrying ${when}…`;
  if (r.reason === 'rate_limited') return `The relay or environment is busy; retrying ${when}…`;
  if (r.reason === 'relay_error' || r.reason === 'network') return `The relay is not answering; retrying ${when}…`;
  return `The environment could not be reached (${r.reason}); retrying ${when}…`;
}

export async function runClientConnect(out: Output, opts: ClientConnectOptions): Promise<number> {
  const { signer, created } = await loadOrCreateClientKey(opts.keyFile ?? join(opts.dataDir, 'client-key.json'));
  const code = await verificationCode(signer.thumbprint);
  if (created) out.note('Created a new client key.');
  if (opts.relaySource === 'data-dir') out.note(`Relay ${opts.relay} (the one the environment running on ${opts.dataDir} uses).`);
  if (opts.relaySource === 'default') out.note(`Relay ${opts.relay} (the default: no environment is running on ${opts.dataDir}; pass --relay URL for another).`);
  out.line(`Client        ${signer.thumbprint}`);
  // The code matters only when the owner is asked: in account mode nobody sees it, so it is shown with the first pending answer.
  let codeShown = false;
  let announced = false;
  const onPending = (info: PendingInfo) => {
    if (!codeShown) {
      codeShown = true;
      out.line(`Verification  ${code}   (check that the owner sees the same code)`);
    }
    if (info.approvalStatus === 'pending' && !announced) {
      announced = true;
      out.line('Waiting for approval… (approve this client in the environment settings)');
    }
  };
  const abort = new AbortController();
  const stop = () => abort.abort(new Error('Interrupted.'));
  process.once('SIGINT', stop);
  try {
    const session = await connectToEnvironment({
      relayUrl: opts.relay.replace(/\/+$/, ''),
      environmentId: opts.environment,
      signer,
      getIdToken: () => (opts.idToken ? Promise.resolve(opts.idToken) : devIdToken(opts.relay.replace(/\/+$/, ''), opts.account)),
      client: { label: opts.label ?? hostname(), deviceType: 'desktop', os: osName() },
      wait: opts.wait,
      onPending,
      onRetry: (r) => out.note(retryLine(r)),
      signal: abort.signal,
    });
    const whoami = await createEnvClient<EnvRouter>(session, signer).client.whoami.query();
    out.data({ status: 'authorized', verificationCode: code, clientProofKeyThumbprint: signer.thumbprint, whoami });
    out.line(`Connected to ${whoami.environmentId} at ${session.endpoint}.`);
    out.line(`whoami        client ${whoami.clientProofKeyThumbprint}, scopes ${whoami.scopes.join(' ')}, session expires ${new Date(whoami.expiresAt).toISOString()}`);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ConnectionBlockedError && error.reason === 'permission') {
      out.data({ status: error.approvalStatus === 'rejected' ? 'rejected' : 'pending_approval', verificationCode: code, clientProofKeyThumbprint: signer.thumbprint });
      out.line(error.detail);
      if (error.retryAfterSeconds) out.line(`Ask again in ${error.retryAfterSeconds} s, or drop --no-wait to wait for the owner.`);
      return EXIT.blocked;
    }
    throw error;
  } finally {
    process.off('SIGINT', stop);
  }
}

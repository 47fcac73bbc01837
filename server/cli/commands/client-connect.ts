// `gatehouse client connect`: this machine as a client device (SPEC §8).
import { hostname, platform } from 'node:os';
import { join } from 'node:path';
import { connectToEnvironment, createEnvClient, type PendingInfo, type RetryInfo } from '../../../shared/client/connect';
import { ConnectionBlockedError, NEW_DEVICES_PAUSED_DETAIL } from '../../../shared/client/errors';
import { gatehouseSoftware } from '../../../shared/software';
import { verificationCode } from '../../../shared/verification-code';
import type { EnvRouter } from '../../env/trpc/app-router';
import { readInviteFragment } from '../../../shared/invite';
import { EXIT, UsageError } from '../options';
import { loadOrCreateClientKey } from '../node-key-store';
import type { Output } from '../output';
import { readRuntimeInfo } from '../runtime-file';
import { clientIdTokenSource } from './client-id-token';

const osName = (): string => ({ linux: 'Linux', darwin: 'macOS', win32: 'Windows' })[platform() as string] ?? platform();

export const DEFAULT_RELAY_URL = 'http://127.0.0.1:4200';

export interface ClientConnectOptions {
  dataDir: string;
  /** Absent: the one the invite names, else the one in the data directory. */
  environment?: string;
  /** An invite URL (SPEC §13); its fragment names the invite, and usually the environment and relay. */
  invite?: string;
  /** Absent: the invite's relay, else the data directory's, else http://127.0.0.1:4200. */
  relay?: string;
  /** Where the relay URL came from, said once so a wrong guess is visible. */
  relaySource?: 'flag' | 'data-dir' | 'default';
  /** The dev issuer's shortcut for scripts: sign this username in without a browser. */
  account?: string;
  /** An account ID token (automation); without it and `account`: the stored sign-in (`gatehouse login`). */
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

function inviteOf(url: string | undefined) {
  if (url === undefined) return null;
  let hash: string;
  try {
    hash = new URL(url).hash;
  } catch {
    throw new UsageError(`--invite takes the invite URL the owner gave you, not "${url.slice(0, 80)}".`);
  }
  const invite = readInviteFragment(hash);
  if (!invite) throw new UsageError("This invite URL is incomplete: it should end in #invite=inv_…; copy it whole (in quotes, it has a '#').");
  return invite;
}

export async function runClientConnect(out: Output, given: ClientConnectOptions): Promise<number> {
  const invite = inviteOf(given.invite);
  const environment = given.environment ?? invite?.environmentId;
  if (!environment) throw new UsageError('This invite URL does not name its environment: add --environment <id>.');
  const opts = { ...given, environment, relay: given.relay ?? invite?.relayUrl ?? 'http://127.0.0.1:4200' };
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
      getIdToken: clientIdTokenSource(out, opts),
      client: { label: opts.label ?? hostname(), deviceType: 'desktop', os: osName(), software: gatehouseSoftware('cli') },
      wait: opts.wait,
      ...(invite && { invite: { inviteId: invite.inviteId, secret: invite.secret } }),
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
      // No approval status: not a decision about this key; the environment is paused or the invite was refused (SPEC §13).
      const status = error.approvalStatus === 'rejected' ? 'rejected' : error.approvalStatus === 'pending' ? 'pending_approval' : error.detail === NEW_DEVICES_PAUSED_DETAIL ? 'new_devices_paused' : 'invite_refused';
      out.data({ status, verificationCode: code, clientProofKeyThumbprint: signer.thumbprint });
      out.line(error.detail);
      if (error.retryAfterSeconds) out.line(`Ask again in ${error.retryAfterSeconds} s, or drop --no-wait to wait for the owner.`);
      return EXIT.blocked;
    }
    throw error;
  } finally {
    process.off('SIGINT', stop);
  }
}

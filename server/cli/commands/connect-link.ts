// `gatehouse connect link | unlink | status`.
import { ZodError } from 'zod';
import { describeTunnel, type TunnelStatus } from '../../../shared/contracts';
import { DomainError } from '../../common/errors';
import { deleteRelayLink, readRelayLink, type RelayLink } from '../../env/link/link.service';
import { readSecurityModeState } from '../../env/connect/security-mode.service';
import type { EnvDeps } from '../../env/deps';
import { CliError, findRunningEnv, loadEnvSigningKey, openEnvOffline } from '../env-access';
import { UsageError } from '../options';
import type { Output } from '../output';
import { devIdToken } from './dev-id-token';

/** The stored link, or null when there is none or it is unreadable (for messages only). */
function linkIfReadable(deps: EnvDeps): RelayLink | null {
  try {
    return readRelayLink(deps);
  } catch {
    return null;
  }
}

/** The relay's answers, said in terms of what to run next. */
function linkError(error: unknown, deps: EnvDeps, opts: { relay: string; account?: string }): unknown {
  if (error instanceof ZodError) {
    return new CliError(`${opts.relay} did not answer like a Gatehouse relay. Check the --relay URL (the relay’s own URL, for example http://127.0.0.1:4200).`);
  }
  if (error instanceof DomainError && error.reason === 'environment_link_conflict') {
    const refused = `The relay at ${opts.relay} refused the link (409 conflict)`;
    const local = linkIfReadable(deps);
    if (local && local.relayUrl === opts.relay && local.accountId !== opts.account) {
      return new CliError(`${refused}: this environment is linked there for account "${local.accountId}". Run \`npx gatehouse connect unlink\` first, then link again.`);
    }
    // Nothing here says so: an earlier unlink removed the link here but could not reach the relay.
    return new CliError(
      `${refused}: it still holds a link of this environment for another account (an earlier unlink could not reach it). ` +
        'Link again for that account, then run `npx gatehouse connect unlink` while the relay is reachable.',
    );
  }
  return error;
}

export async function runLink(out: Output, opts: { dataDir: string; relay: string; account?: string; idToken?: string; directEndpoint?: string }): Promise<number> {
  if (opts.account && opts.idToken) throw new UsageError('Pass at most one of --account NAME (dev issuer) or --id-token JWT.');
  const env = await openEnvOffline(opts.dataDir);
  try {
    // Without either: the account signed in with `gatehouse login` (refreshed, or signed in now at a terminal).
    const idToken =
      opts.idToken ??
      (opts.account
        ? await devIdToken(opts.relay, opts.account, true)
        : await (await import('../account-session')).accountIdToken(out, { dataDir: opts.dataDir, relay: opts.relay, interactive: process.stdin.isTTY === true }));
    const signingKey = await loadEnvSigningKey(opts.dataDir);
    const { linkToRelay } = await import('../../env/link/link-client'); // jose and the proofs: link and unlink only
    let link: RelayLink;
    try {
      link = await linkToRelay({ ...env, signingKey, directEndpoint: opts.directEndpoint }, opts.relay, idToken);
    } catch (error) {
      throw linkError(error, env.deps, opts);
    }
    out.data({ environmentId: env.environmentId, accountId: link.accountId, relayUrl: link.relayUrl, routedEndpoint: link.routedEndpoint });
    out.line(`Linked environment ${env.environmentId} to ${link.relayUrl} for account "${link.accountId}".`);
    out.line(`Clients reach it through the relay at ${link.routedEndpoint}${opts.directEndpoint ? ` (or directly at ${opts.directEndpoint})` : ''}.`);
    const running = await findRunningEnv(opts.dataDir);
    if (!running) out.note('The environment is not running: its tunnel opens when you start it (npx gatehouse env start).');
    return 0;
  } finally {
    env.close();
  }
}

export async function runUnlink(out: Output, opts: { dataDir: string }): Promise<number> {
  const env = await openEnvOffline(opts.dataDir);
  try {
    let link: RelayLink | null;
    try {
      link = readRelayLink(env.deps);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // Its relay key is unreadable, so no unlink proof can name the relay: forget it here.
      deleteRelayLink(env.deps);
      out.data({ linked: false });
      out.line('Removed the unreadable relay link here; the relay may still list it until you link again.');
      return 0;
    }
    out.data({ linked: false });
    if (!link) {
      out.line('Not linked to a relay; nothing to unlink.');
      return 0;
    }
    const { unlinkFromRelay } = await import('../../env/link/link-client');
    const result = await unlinkFromRelay({ ...env, signingKey: await loadEnvSigningKey(opts.dataDir) });
    out.line(result.relayReached ? 'Unlinked. Clients and the security mode are kept.' : 'Unlinked here; the relay could not be reached, so it may still list the link until you link again.');
    return 0;
  } finally {
    env.close();
  }
}

export async function runStatus(out: Output, opts: { dataDir: string }): Promise<number> {
  const env = await openEnvOffline(opts.dataDir);
  try {
    const link = readRelayLink(env.deps);
    const mode = readSecurityModeState(env.deps.db);
    const running = await findRunningEnv(opts.dataDir);
    // The tunnel's state lives in the running process: ask it (it reflects the last PING answered).
    let tunnel: TunnelStatus = { state: link ? 'stopped' : 'unlinked' };
    if (running) {
      const { createOwnerClient } = await import('../../env/owner/owner-client');
      tunnel = await createOwnerClient(running.url, running.adminToken, 'cli').connect.tunnel.status.query();
    }
    out.data({
      linked: !!link,
      accountId: link?.accountId ?? null,
      relayUrl: link?.relayUrl ?? null,
      routedEndpoint: link?.routedEndpoint ?? null,
      environmentId: env.environmentId,
      connectSecurityMode: mode.mode,
      tunnel,
    });
    out.line(`Environment   ${env.environmentId}${running ? ` (running at ${running.url})` : ' (not running)'}`);
    out.line(link ? `Relay         ${link.relayUrl}, account "${link.accountId}"` : 'Relay         not linked — link with: npx gatehouse connect link --relay URL --account NAME');
    if (link?.routedEndpoint) out.line(`Endpoint      ${link.routedEndpoint} (through the relay)`);
    out.line(running ? describeTunnel(tunnel) : 'tunnel: the environment is not running');
    out.line(mode.mode === null ? `Client approval: unknown — ${mode.error}` : mode.mode === 'client-approval' ? 'Client approval: required' : 'Client approval: account-wide');
    return 0;
  } finally {
    env.close();
  }
}

// `gatehouse connect link | unlink | status`.
import { readRelayLink } from '../../env/link/link.service';
import { linkToRelay, unlinkFromRelay } from '../../env/link/link-client';
import { readSecurityModeState } from '../../env/connect/security-mode.service';
import { CliError, findRunningEnv, openEnvOffline } from '../env-access';
import type { Output } from '../output';

export async function devIdToken(relayUrl: string, account: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${relayUrl}/dev-issuer/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: account }), signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new CliError(`Could not reach the dev issuer at ${relayUrl}/dev-issuer. Is the relay running (npm start)? Or pass --id-token from your OpenID provider.`);
  }
  const body = (await res.json().catch(() => ({}))) as { id_token?: string; message?: string };
  if (!res.ok || !body.id_token) throw new CliError(`The dev issuer refused to sign in "${account}": ${body.message ?? `HTTP ${res.status}`}`);
  return body.id_token;
}

export async function runLink(out: Output, opts: { dataDir: string; relay: string; account?: string; idToken?: string }): Promise<number> {
  if (!opts.account === !opts.idToken) throw new CliError('Pass exactly one of --account NAME (dev issuer) or --id-token JWT.', 2);
  const idToken = opts.idToken ?? (await devIdToken(opts.relay, opts.account!));
  const env = await openEnvOffline(opts.dataDir);
  try {
    const running = await findRunningEnv(opts.dataDir);
    const publicUrl = running?.url ?? process.env.GATEHOUSE_ENV_PUBLIC_URL ?? 'http://127.0.0.1:4100';
    const link = await linkToRelay({ ...env, publicUrl }, opts.relay, idToken);
    out.data({ environmentId: env.environmentId, accountId: link.accountId, relayUrl: link.relayUrl });
    out.line(`Linked environment ${env.environmentId} to ${link.relayUrl} for account "${link.accountId}" (endpoint ${publicUrl}).`);
    return 0;
  } finally {
    env.close();
  }
}

export async function runUnlink(out: Output, opts: { dataDir: string }): Promise<number> {
  const env = await openEnvOffline(opts.dataDir);
  try {
    const running = await findRunningEnv(opts.dataDir);
    const result = await unlinkFromRelay({ ...env, publicUrl: running?.url ?? 'http://127.0.0.1:4100' });
    out.data({ linked: false });
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
    out.data({ linked: !!link, accountId: link?.accountId ?? null, relayUrl: link?.relayUrl ?? null, environmentId: env.environmentId, connectSecurityMode: mode.mode });
    out.line(`Environment   ${env.environmentId}${running ? ` (running at ${running.url})` : ' (not running)'}`);
    out.line(link ? `Relay         ${link.relayUrl}, account "${link.accountId}"` : 'Relay         not linked — link with: gatehouse connect link --relay URL --account NAME');
    out.line(mode.mode === null ? `Client approval: unknown — ${mode.error}` : mode.mode === 'client-approval' ? 'Client approval: required' : 'Client approval: account-wide');
    return 0;
  } finally {
    env.close();
  }
}

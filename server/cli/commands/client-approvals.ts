// `gatehouse client approvals` and `client approve <thumbprint>` (SPEC §13): deciding from an approver
// device, through the relay, with this machine's own client key and session.
import { join } from 'node:path';
import { connectToEnvironment, createEnvClient } from '../../../shared/client/connect';
import type { EnvRouter } from '../../env/trpc/app-router';
import { CliError, EXIT, UsageError } from '../options';
import { loadOrCreateClientKey } from '../node-key-store';
import type { Output } from '../output';
import { devIdToken } from './dev-id-token';
import { clientLines } from './security-format';
import { spell } from '../duration';

export interface ApproverOptions {
  dataDir: string;
  environment: string;
  relay: string;
  account: string;
  idToken?: string;
  keyFile?: string;
}

async function approverClient(opts: ApproverOptions) {
  const file = opts.keyFile ?? join(opts.dataDir, 'client-key.json');
  const { signer } = await loadOrCreateClientKey(file);
  const relayUrl = opts.relay.replace(/\/+$/, '');
  const session = await connectToEnvironment({ relayUrl, environmentId: opts.environment, signer, getIdToken: () => (opts.idToken ? Promise.resolve(opts.idToken) : devIdToken(relayUrl, opts.account)), wait: false });
  return createEnvClient<EnvRouter>(session, signer);
}

const forbidden = (error: unknown) => (error as { data?: { code?: string } }).data?.code === 'FORBIDDEN' || (error as { data?: { code?: string } }).data?.code === 'UNAUTHORIZED';

export async function runClientApprovals(out: Output, opts: ApproverOptions): Promise<number> {
  const env = await approverClient(opts);
  try {
    const pending = (await env.connect.clients.list.query({ status: 'pending', limit: 500 })).items;
    out.data({ pending });
    if (pending.length === 0) out.line('No devices are waiting for approval.');
    for (const line of clientLines(pending, Date.now())) out.line(line);
    return EXIT.ok;
  } catch (error) {
    if (forbidden(error)) throw new CliError('This device is not an approver of the environment: ask the owner to make it one on the settings page.');
    throw error;
  }
}

export async function runClientApprove(out: Output, opts: ApproverOptions & { thumbprint: string; expiresInSeconds: number }): Promise<number> {
  const env = await approverClient(opts);
  try {
    const list = (await env.connect.clients.list.query({ search: opts.thumbprint.slice(0, 100), limit: 500 })).items;
    const matches = list.filter((c) => c.clientProofKeyThumbprint.startsWith(opts.thumbprint));
    if (opts.thumbprint.length < 8) throw new UsageError('Give the thumbprint, or a unique prefix of at least 8 characters.');
    if (matches.length !== 1) throw new CliError(matches.length === 0 ? `No device starts with ${opts.thumbprint}.` : `${matches.length} devices start with ${opts.thumbprint}: give more characters.`, EXIT.notFound);
    const target = matches[0]!;
    const result = await env.connect.clients.approve.mutate({ clientProofKeyThumbprint: target.clientProofKeyThumbprint, expiresInSeconds: opts.expiresInSeconds });
    out.data(result);
    out.line(`Approved ${target.clientProofKeyThumbprint} (code ${target.verificationCode}) for ${spell(opts.expiresInSeconds)}.`);
    return EXIT.ok;
  } catch (error) {
    if (forbidden(error)) throw new CliError(`The environment refused: ${(error as Error).message}`);
    throw error;
  }
}

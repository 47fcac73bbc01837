// `gatehouse client approvals` and `client approve <thumbprint>` (SPEC §13): deciding from an approver
// device, through the relay, with this machine's own client key and session.
import { createTRPCClient, httpSubscriptionLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { join } from 'node:path';
import { connectToEnvironment, createEnvClient, type EnvSession } from '../../../shared/client/connect';
import { dpopFetch } from '../../../shared/client/dpop-fetch';
import type { ConnectClient } from '../../../shared/contracts';
import type { DpopSigner } from '../../../shared/dpop';
import type { ApproverEvent } from '../../env/connect/approver-events.service';
import type { EnvRouter } from '../../env/trpc/app-router';
import { CliError, EXIT, UsageError } from '../options';
import { loadOrCreateClientKey } from '../node-key-store';
import type { Output } from '../output';
import { clientIdTokenSource } from './client-id-token';
import { clientLines, clientTitle, printable, watchTime } from './security-format';
import { spell } from '../duration';

export interface ApproverOptions {
  dataDir: string;
  environment: string;
  relay: string;
  account?: string;
  idToken?: string;
  keyFile?: string;
}

async function approverSession(out: Output, opts: ApproverOptions): Promise<{ session: EnvSession; signer: DpopSigner }> {
  const file = opts.keyFile ?? join(opts.dataDir, 'client-key.json');
  const { signer } = await loadOrCreateClientKey(file);
  const relayUrl = opts.relay.replace(/\/+$/, '');
  const session = await connectToEnvironment({ relayUrl, environmentId: opts.environment, signer, getIdToken: clientIdTokenSource(out, opts), wait: false });
  return { session, signer };
}

async function approverClient(out: Output, opts: ApproverOptions) {
  const { session, signer } = await approverSession(out, opts);
  return createEnvClient<EnvRouter>(session, signer);
}

const forbidden = (error: unknown) => (error as { data?: { code?: string } }).data?.code === 'FORBIDDEN' || (error as { data?: { code?: string } }).data?.code === 'UNAUTHORIZED';

export async function runClientApprovals(out: Output, opts: ApproverOptions): Promise<number> {
  const env = await approverClient(out, opts);
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
  const env = await approverClient(out, opts);
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

/**
 * `--watch` lines: one per device when it starts waiting and one when it is decided, each with the
 * time, its name and code. A waiting device re-asks on every long-poll (each ask is an event), and a
 * reconnect brings a new snapshot: neither repeats a line already printed.
 */
export function createApproverWatchPrinter(now: () => number = Date.now) {
  const waiting = new Map<string, ConnectClient>();
  const who = (c: ConnectClient) => `"${printable(clientTitle(c))}" (code ${c.verificationCode})  ${c.clientProofKeyThumbprint}`;
  const arrived = (c: ConnectClient): string[] => {
    if (waiting.has(c.clientProofKeyThumbprint)) return [];
    waiting.set(c.clientProofKeyThumbprint, c);
    return [`${watchTime(now())}  waiting   ${who(c)}`];
  };
  return function lines(event: ApproverEvent): string[] {
    switch (event.type) {
      case 'snapshot': {
        const out = event.pending.flatMap(arrived);
        if (waiting.size === 0) out.push(`${watchTime(now())}  No devices are waiting for approval.`);
        return out;
      }
      case 'pending':
        return arrived(event.client);
      case 'decided': {
        const c = waiting.get(event.clientProofKeyThumbprint);
        if (!c) return [];
        waiting.delete(event.clientProofKeyThumbprint);
        return [`${watchTime(now())}  ${event.outcome.padEnd(8)}  ${who(c)}`];
      }
      case 'ended':
        return [];
    }
  };
}

const NO_LONGER = 'This device is no longer an approver of the environment: the owner took the right away.';

/** `client approvals --watch`: the waiting list, live, until SIGINT/SIGTERM (0) or the approver right ends (1). */
export async function runClientApprovalsWatch(out: Output, opts: ApproverOptions): Promise<number> {
  const lines = createApproverWatchPrinter();
  let stop: (() => void) | null = null;
  const onSignal = () => stop?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let stopped = false;
  let watching = false;
  try {
    out.note('Watching the devices waiting for approval (Ctrl+C to stop).');
    // Each round is one client session; when it runs out (an hour at most), the next one carries on.
    while (!stopped) {
      const { session, signer } = await approverSession(out, opts);
      const live = createTRPCClient<EnvRouter>({
        links: [httpSubscriptionLink({ url: `${session.endpoint}/trpc`, EventSource, eventSourceOptions: { fetch: dpopFetch(signer, () => session.accessToken) } })],
      });
      const ended = await new Promise<'stopped' | 'session_ended'>((resolve, reject) => {
        const subscription = live.client.approvals.subscribe(undefined, {
          onData: (event: ApproverEvent) => {
            watching = true;
            out.data(event);
            for (const line of lines(event)) out.line(line);
            if (event.type === 'ended') {
              subscription.unsubscribe();
              if (event.reason === 'session_ended') resolve('session_ended');
              else reject(new CliError(NO_LONGER));
            }
          },
          onError: (error) => {
            subscription.unsubscribe();
            // Refused after it was watching (the stream's reconnect can be the first to learn it): the right was taken away.
            if (forbidden(error)) reject(new CliError(watching ? NO_LONGER : 'This device is not an approver of the environment: ask the owner to make it one on the settings page.'));
            else reject(error);
          },
          onComplete: () => resolve('session_ended'),
        });
        stop = () => {
          stopped = true;
          subscription.unsubscribe();
          resolve('stopped');
        };
      });
      if (ended === 'stopped') break;
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

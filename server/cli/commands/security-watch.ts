// `gatehouse connect security clients --watch`: the running environment's access events, live.
import type { AccessEvent } from '../../../shared/contracts';
import { CliError, findRunningEnv } from '../env-access';
import { createOwnerClient } from '../../env/owner/owner-client';
import { EXIT } from '../options';
import type { Output } from '../output';
import { createWatchPrinter } from './security-format';
import { fromTrpcError, recordedEnvUrl } from './security-target';

/** Prints the snapshot, then each event as it arrives, until SIGINT/SIGTERM (exit 0). */
export async function runWatch(out: Output, opts: { dataDir: string }): Promise<number> {
  const running = await findRunningEnv(opts.dataDir);
  if (!running) {
    const tried = recordedEnvUrl(opts.dataDir);
    throw new CliError(
      `--watch needs a running environment, and ${tried ? `none answered at ${tried}` : `none is recorded in ${opts.dataDir}`}. ` +
        'Start it with `npx gatehouse start` (or `npx gatehouse env start`), or pass the --data-dir it runs on.',
    );
  }
  const { url } = running;
  const client = createOwnerClient(url, running.adminToken, 'cli');
  out.note(`Watching access events at ${url} (Ctrl+C to stop).`);
  const eventLines = createWatchPrinter();

  return new Promise<number>((resolve, reject) => {
    let lost = false;
    let subscription: { unsubscribe(): void } | undefined;
    const finish = (error?: Error) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      subscription?.unsubscribe();
      if (error) reject(error);
      else resolve(EXIT.ok);
    };
    const onSignal = () => finish();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    subscription = client.access.events.subscribe(undefined, {
      onData: ({ data }) => {
        const event: AccessEvent = data;
        out.data({ revision: event.revision, type: event.type, payload: event.payload });
        for (const line of eventLines(event)) out.line(line);
      },
      onError: (error) => finish(fromTrpcError(error, url, opts.dataDir)),
      // The link reconnects by itself (resuming from the last event id); say so once per outage.
      onConnectionStateChange: (state) => {
        if (state.state === 'connecting' && state.error && !lost) {
          lost = true;
          out.note(`Lost the event stream from ${url}; reconnecting…`);
        } else if (state.state === 'pending' && lost) {
          lost = false;
          out.note('Reconnected.');
        }
      },
    });
  });
}

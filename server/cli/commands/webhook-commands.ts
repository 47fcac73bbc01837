// `gatehouse connect webhooks add|list|remove|test|deliveries` (SPEC §14): flags and help only; the
// work (tRPC client, zod) is loaded when a command runs (webhooks.ts).
import type { Command } from 'commander';
import type { webhookEvents, webhookFormats } from '../../../shared/contracts';
import { dataDirOf } from '../options';
import { createOutput } from '../output';

type Common = { dataDir?: string; json?: boolean };
/** shared/contracts' lists, spelled out so help does not load zod; `satisfies` keeps them equal. */
export const EVENT_NAMES = ['client.pending', 'client.approved', 'client.rejected', 'client.revoked', 'mode.changed', 'flood.detected'] as const satisfies typeof webhookEvents;
const FORMATS = ['json', 'slack', 'discord'] as const satisfies typeof webhookFormats;

export function registerWebhookCommands(connect: Command, common: (cmd: Command) => Command, run: (code: Promise<number>) => void): void {
  const hooks = connect
    .command('webhooks')
    .summary('tell a chat or a URL when a device waits or a decision is made')
    .description('Webhooks reach you while no settings page is open. Deliveries are signed (Standard Webhooks) and retried for up to a day. These commands need the running environment.')
    .addHelpText('after', ['', 'Examples:', '  gatehouse connect webhooks add https://hooks.slack.com/services/… --format slack --events client.pending', '  gatehouse connect webhooks test wh_…'].join('\n'));
  const opts = (cmd: Command) => {
    const o = cmd.optsWithGlobals<Common>();
    return { out: createOutput(!!o.json), dataDir: dataDirOf(o.dataDir) };
  };
  common(hooks.command('add'))
    .description('add a webhook; prints its signing secret once')
    .argument('<url>', 'where to POST (https; private addresses only with --allow-private-webhooks on the environment)')
    .option('--events <list>', `comma-separated: ${EVENT_NAMES.join(', ')} (default: all)`)
    .option('--format <format>', `${FORMATS.join(', ')} (default json)`, 'json')
    .action((url: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Common & { events?: string; format: string }>();
      const { out, dataDir } = opts(cmd);
      run(import('./webhooks').then(({ runAdd }) => runAdd(out, { dataDir, url, events: o.events, format: o.format })));
    });
  common(hooks.command('list'))
    .description('list webhooks (never their secrets)')
    .action((_o: unknown, cmd: Command) => {
      const { out, dataDir } = opts(cmd);
      run(import('./webhooks').then(({ runList }) => runList(out, { dataDir })));
    });
  for (const [name, help] of [
    ['remove', 'remove a webhook and its queued deliveries'],
    ['test', 'send a signed test message now and show the answer'],
    ['deliveries', 'the latest deliveries of a webhook: status, attempts, answer'],
  ] as const) {
    common(hooks.command(name))
      .description(help)
      .argument('<webhookId>', 'the id `webhooks list` shows (wh_…)')
      .action((webhookId: string, _o: unknown, cmd: Command) => {
        const { out, dataDir } = opts(cmd);
        run(import('./webhooks').then((m) => m.runOne(out, { dataDir, webhookId, what: name })));
      });
  }
}

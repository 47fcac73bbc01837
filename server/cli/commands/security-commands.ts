// `gatehouse connect security [--mode …] | clients [--watch] | approve|reject|revoke <thumbprint> | --code XXXX-XXXX` (SPEC §8):
// flags and help only. What each command does is loaded when it runs (security.ts, security-watch.ts),
// so `--help` and every other command start without the database, tRPC and zod.
import { Option, type Command } from 'commander';
import type { SecurityMode, securityModes } from '../../../shared/contracts';
import { dataDirOf, UsageError } from '../options';
import { createOutput } from '../output';

type Common = { dataDir?: string; json?: boolean };
export type Decision = 'approve' | 'reject' | 'revoke';

export const MIN_PREFIX = 8;
/** shared/contracts' `securityModes`, spelled out so help does not load zod; `satisfies` keeps the two equal. */
const modeChoices = ['account', 'client-approval'] as const satisfies typeof securityModes;

const decisionHelp: Record<Decision, string> = {
  approve: 'let a Connect client in (pending or rejected); a waiting client connects at once',
  reject: 'refuse a Connect client; its sessions end and it stays refused until approved',
  revoke: 'forget a Connect client: its sessions and credentials end, and it must ask again',
};

/** Options given before the subcommand (`connect security --json clients`) count too; `--mode` does not belong there. */
function optionsOf(cmd: Command): Common {
  const o = cmd.optsWithGlobals<Common & { mode?: string }>();
  if (o.mode !== undefined && cmd.name() !== 'security') throw new UsageError(`--mode sets the mode on its own: run \`npx gatehouse connect security --mode ${o.mode}\` separately from \`${cmd.name()}\`.`);
  return o;
}

export function registerSecurityCommands(connect: Command, common: (cmd: Command) => Command, run: (code: Promise<number>) => void): void {
  const security = common(connect.command('security'))
    .summary('who may connect: the security mode and Connect client decisions')
    .description(
      'Show or set the Connect security mode. In account mode every client signed in to your account may connect; ' +
        'with client approval each new device waits until you approve it here or on the settings page.\n\n' +
        'Commands go through the running environment (so open settings pages update live); when none is running ' +
        'they read or change its database directly and say so.',
    )
    .addOption(new Option('--mode <mode>', 'set the mode: client-approval asks you about each new device; account lets in any device signed in to your account').choices(modeChoices))
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npx gatehouse connect security --mode client-approval',
        '  npx gatehouse connect security clients --watch',
        '  npx gatehouse connect security approve --code K7QM-2XWD   (the code the device shows)',
        '  npx gatehouse connect security approve Xq3v9KpL           (a unique prefix of 8+ characters is enough)',
      ].join('\n'),
    )
    .action((_o: Common, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { mode?: SecurityMode };
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(import('./security').then(({ runMode }) => runMode(out, { dataDir, ...(o.mode && { mode: o.mode }) })));
    });

  common(security.command('clients'))
    .description('list Connect clients, pending first: thumbprint, status, title, verification code, device, OS, last activity')
    .option('--watch', 'keep watching: a snapshot, then each access event as it happens, until Ctrl+C (needs a running environment; one JSON object per line with --json)')
    .action((_o: unknown, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { watch?: boolean };
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(o.watch ? import('./security-watch').then(({ runWatch }) => runWatch(out, { dataDir })) : import('./security').then(({ runClients }) => runClients(out, { dataDir })));
    });

  common(security.command('audit'))
    .description('show the audit log, newest first: mode changes, requests and decisions, who made them and when')
    .option('--limit <n>', 'how many entries (1–500)', '25')
    .action((_o: unknown, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { limit: string };
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError(`--limit takes a whole number from 1 to 500, not "${o.limit}".`);
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(import('./security').then(({ runAudit }) => runAudit(out, { dataDir, limit })));
    });

  for (const decision of ['approve', 'reject', 'revoke'] as const) {
    common(security.command(decision))
      .description(decisionHelp[decision])
      .argument('[thumbprint]', `the client's thumbprint, or a unique prefix of at least ${MIN_PREFIX} characters (one that starts with '-' goes after --: ${decision} -- -AbC…)`)
      .option('--code <XXXX-XXXX>', decision === 'revoke' ? 'the verification code of the active client to revoke, instead of its thumbprint' : `the verification code the waiting device shows, instead of its thumbprint (exactly one pending client must show it)`)
      .action((thumbprint: string | undefined, _o: unknown, cmd: Command) => {
        const o = optionsOf(cmd) as Common & { code?: string };
        const out = createOutput(!!o.json);
        const dataDir = dataDirOf(o.dataDir);
        run(import('./security').then(({ runDecision }) => runDecision(out, { dataDir, decision, ...(thumbprint !== undefined && { thumbprint }), ...(o.code !== undefined && { code: o.code }) })));
      });
  }
}

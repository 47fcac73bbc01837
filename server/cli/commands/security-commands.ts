// `gatehouse connect security [--mode …] | clients [--watch] | approve|reject|revoke <thumbprint> | --code XXXX-XXXX` (SPEC §8):
// flags and help only. What each command does is loaded when it runs (security.ts, security-watch.ts),
// so `--help` and every other command start without the database, tRPC and zod.
import { Option, type Command } from 'commander';
import type { SecurityMode, securityModes } from '../../../shared/contracts';
import { dataDirOf, UsageError } from '../options';
import { parseDuration } from '../duration';
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
        '  npx gatehouse connect security approve Xq3v9KpL --for 24h',
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

  const invite = connect.command('invite').description('invites: a link (and QR code) that lets one device in without approving it by hand');
  common(invite.command('create'))
    .description('create an invite for one device: prints its URL and a QR code, shown only this once')
    .option('--label <text>', 'what it is for, shown in the audit log ("for the kitchen")')
    .option('--for <duration>', 'how long it can be used: 10m, 1h, … up to 24h', '1h')
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Common & { label?: string; for: string }>();
      const expiresInSeconds = parseDuration(o.for, '--for', { minSeconds: 60, maxSeconds: 86_400, examples: '10m, 1h or 24h' });
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(import('./invite').then(({ runInviteCreate }) => runInviteCreate(out, { dataDir, expiresInSeconds, ...(o.label !== undefined && { label: o.label }) })));
    });
  common(invite.command('list'))
    .description('list open invites: not used, revoked or expired')
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Common>();
      run(import('./invite').then(({ runInviteList }) => runInviteList(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir) })));
    });
  common(invite.command('revoke'))
    .description('revoke an open invite so nobody can use it')
    .argument('<inviteId>', 'the invite id (inv_…), from `invite list`')
    .action((inviteId: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Common>();
      run(import('./invite').then(({ runInviteRevoke }) => runInviteRevoke(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir), inviteId })));
    });

  common(security.command('approver'))
    .description('let an approved device approve and reject others (from its /device page or `gatehouse client approvals`), or take that away with --off')
    .argument('<thumbprint>', `the device's thumbprint, or a unique prefix of at least ${MIN_PREFIX} characters`)
    .option('--off', 'it is no longer an approver')
    .action((thumbprint: string, _o: unknown, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { off?: boolean };
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(import('./security').then(({ runSetApprover }) => runSetApprover(out, { dataDir, thumbprint, approver: !o.off })));
    });

  common(connect.command('pause'))
    .summary('pause new devices: keys never seen before are turned away until it ends')
    .description(
      'Pause new devices (for example during a flood of requests): devices this environment has never seen get no pending entry and are told ' +
        '"This environment is not accepting new devices right now."; approved devices keep working. Without --for or --off it shows whether new devices are paused.',
    )
    .option('--for <duration>', 'pause for a time: 15m, 1h, … up to 30d; "forever" pauses until you run --off')
    .option('--off', 'accept new devices again')
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Common & { for?: string; off?: boolean }>();
      if (o.for !== undefined && o.off) throw new UsageError('--for and --off contradict each other: pick one.');
      const pauseSeconds = o.for === undefined || o.for === 'forever' ? (o.for === 'forever' ? ('forever' as const) : undefined) : parseDuration(o.for, '--for', { minSeconds: 60, maxSeconds: 30 * 86_400, examples: '15m, 1h or forever' });
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      const change = o.off ? ('off' as const) : pauseSeconds;
      run(import('./pause').then(({ runPause }) => runPause(out, { dataDir, ...(change !== undefined && { change }) })));
    });

  for (const decision of ['approve', 'reject', 'revoke'] as const) {
    const command = common(security.command(decision))
      .description(decisionHelp[decision])
      .argument('[thumbprint]', `the client's thumbprint, or a unique prefix of at least ${MIN_PREFIX} characters (one that starts with '-' goes after --: ${decision} -- -AbC…)`)
      .option('--code <XXXX-XXXX>', decision === 'revoke' ? 'the verification code of the active client to revoke, instead of its thumbprint' : `the verification code the waiting device shows, instead of its thumbprint (exactly one pending client must show it)`);
    if (decision === 'approve') command.option('--for <duration>', 'approve for a time: 1h, 8h, 24h, 7d or 30d (any whole m/h/d up to 30d); then it asks again. Default: until revoked');
    command.action((thumbprint: string | undefined, _o: unknown, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { code?: string; for?: string };
      const expiresInSeconds = o.for === undefined ? undefined : parseDuration(o.for, '--for', { minSeconds: 60, maxSeconds: 30 * 86_400, examples: '1h, 8h, 24h, 7d or 30d' });
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(import('./security').then(({ runDecision }) => runDecision(out, { dataDir, decision, ...(thumbprint !== undefined && { thumbprint }), ...(o.code !== undefined && { code: o.code }), ...(expiresInSeconds !== undefined && { expiresInSeconds }) })));
    });
  }
}

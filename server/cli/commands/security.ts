// `gatehouse connect security [--mode …] | clients [--watch] | approve|reject|revoke <thumbprint>` (SPEC §8).
import { Option, type Command } from 'commander';
import { securityModes, type SecurityMode } from '../../../shared/contracts';
import { CliError } from '../env-access';
import { dataDirOf, EXIT, UsageError } from '../options';
import { createOutput, type Output } from '../output';
import { clientLines, clientTitle, endedSessionsSentence, modeSentence, printable } from './security-format';
import { openSecurityTarget, DIRECT_READ_NOTE, DIRECT_WRITE_NOTE, type SecurityTarget } from './security-target';
import { runWatch } from './security-watch';

type Common = { dataDir?: string; json?: boolean };
type Decision = 'approve' | 'reject' | 'revoke';

export const MIN_PREFIX = 8;
const THUMBPRINT_LENGTH = 43;

export async function runMode(out: Output, opts: { dataDir: string; mode?: SecurityMode }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    if (target.via === 'database' && !opts.mode) out.note(DIRECT_READ_NOTE);
    const mode = opts.mode ? (await target.setMode(opts.mode)).mode : await target.getMode();
    if (target.via === 'database' && opts.mode) out.note(DIRECT_WRITE_NOTE);
    out.data({ mode });
    out.line(modeSentence(mode));
    return EXIT.ok;
  } finally {
    target.close();
  }
}

export async function runClients(out: Output, opts: { dataDir: string }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    if (target.via === 'database') out.note(DIRECT_READ_NOTE);
    const clients = await target.listClients();
    out.data({ clients });
    if (clients.length === 0) out.line('No Connect clients. Devices appear here when they ask to connect while client approval is required.');
    for (const line of clientLines(clients, Date.now())) out.line(line);
    return EXIT.ok;
  } finally {
    target.close();
  }
}

/** A full thumbprint or a unique prefix of at least 8 characters → the full thumbprint. */
export async function resolveThumbprint(target: SecurityTarget, given: string): Promise<string> {
  if (!/^[A-Za-z0-9_-]+$/.test(given) || given.length > THUMBPRINT_LENGTH) {
    throw new UsageError(`"${printable(given)}" is not a thumbprint: expected up to ${THUMBPRINT_LENGTH} base64url characters (A–Z, a–z, 0–9, - and _).`);
  }
  if (given.length < MIN_PREFIX) {
    throw new UsageError(`"${given}" is too short: give at least ${MIN_PREFIX} characters of the thumbprint (see \`gatehouse connect security clients\`).`);
  }
  const matches = await target.findByPrefix(given);
  const exact = matches.find((c) => c.clientProofKeyThumbprint === given);
  if (exact) return exact.clientProofKeyThumbprint;
  const [only, ...others] = matches;
  if (!only) throw new CliError(`No active Connect client found for ${given}.`, EXIT.notFound);
  if (others.length > 0) {
    const shown = matches.slice(0, 10).map((c) => `${c.clientProofKeyThumbprint} (${c.status}, ${clientTitle(c)})`);
    const more = matches.length > shown.length ? ` and ${matches.length - shown.length} more` : '';
    throw new UsageError(`"${given}" matches ${matches.length} Connect clients: ${shown.join(', ')}${more}. Give more characters of the thumbprint.`);
  }
  return only.clientProofKeyThumbprint;
}

const pastTense: Record<Decision, string> = { approve: 'Approved', reject: 'Rejected', revoke: 'Revoked' };

export async function runDecision(out: Output, opts: { dataDir: string; decision: Decision; thumbprint: string }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const thumbprint = await resolveThumbprint(target, opts.thumbprint);
    const result = await target[opts.decision](thumbprint);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(result);
    out.line(`${pastTense[opts.decision]} Connect client ${thumbprint}.`);
    // Approving never ends sessions (SPEC §5.2); rejecting and revoking say how many they ended.
    if (opts.decision !== 'approve') out.line(endedSessionsSentence(result.endedSessions));
    return EXIT.ok;
  } finally {
    target.close();
  }
}

const decisionHelp: Record<Decision, string> = {
  approve: 'let a Connect client in (pending or rejected); a waiting client connects at once',
  reject: 'refuse a Connect client; its sessions end and it stays refused until approved',
  revoke: 'forget a Connect client: its sessions and credentials end, and it must ask again',
};

/** Options given before the subcommand (`connect security --json clients`) count too; `--mode` does not belong there. */
function optionsOf(cmd: Command): Common {
  const o = cmd.optsWithGlobals<Common & { mode?: string }>();
  if (o.mode !== undefined && cmd.name() !== 'security') throw new UsageError(`--mode sets the mode on its own: run \`gatehouse connect security --mode ${o.mode}\` separately from \`${cmd.name()}\`.`);
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
    .addOption(new Option('--mode <mode>', 'set the mode: client-approval asks you about each new device; account lets in any device signed in to your account').choices(securityModes))
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  gatehouse connect security --mode client-approval',
        '  gatehouse connect security clients --watch',
        '  gatehouse connect security approve Xq3v9KpL     (a unique prefix of 8+ characters is enough)',
      ].join('\n'),
    )
    .action((_o: Common, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { mode?: SecurityMode };
      run(runMode(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir), ...(o.mode && { mode: o.mode }) }));
    });

  common(security.command('clients'))
    .description('list Connect clients, pending first: thumbprint, status, title, verification code, device, OS, last activity')
    .option('--watch', 'keep watching: a snapshot, then each access event as it happens, until Ctrl+C (needs a running environment; one JSON object per line with --json)')
    .action((_o: unknown, cmd: Command) => {
      const o = optionsOf(cmd) as Common & { watch?: boolean };
      const out = createOutput(!!o.json);
      const dataDir = dataDirOf(o.dataDir);
      run(o.watch ? runWatch(out, { dataDir }) : runClients(out, { dataDir }));
    });

  for (const decision of ['approve', 'reject', 'revoke'] as const) {
    common(security.command(decision))
      .description(decisionHelp[decision])
      .argument('<thumbprint>', `the client's thumbprint, or a unique prefix of at least ${MIN_PREFIX} characters`)
      .action((thumbprint: string, _o: unknown, cmd: Command) => {
        const o = optionsOf(cmd);
        run(runDecision(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir), decision, thumbprint }));
      });
  }
}

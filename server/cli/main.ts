// The `gatehouse` command (SPEC §8). Flags and help are defined here, up front and cheap; each
// command's implementation (database, tRPC, jose, the servers…) is imported only when it runs.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, CommanderError, Option } from 'commander';
import { ConnectFailedError, ConnectionBlockedError } from '../../shared/client/errors';
import { DomainError } from '../common/errors';
import { packagePath } from '../common/package-path';
import { registerSecurityCommands } from './commands/security-commands';
import { registerWebhookCommands } from './commands/webhook-commands';
import { CliError, dataDirOf, EXIT, portOf, UsageError, urlOf } from './options';
import { parseDuration } from './duration';
import { createOutput } from './output';

type Common = { dataDir?: string; json?: boolean };

/**
 * Messages echo arguments: never let one drive the terminal (C0/C1 controls, bidi overrides) or
 * flood it (a 100 KB argument keeps its first and last characters only).
 */
export function oneLine(message: string, max = 600): string {
  const clean = message.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
  if (clean.length <= max) return clean;
  const chars = [...clean];
  return chars.length <= max ? clean : `${chars.slice(0, max - 200).join('')}…${chars.slice(-199).join('')}`;
}

function metricsListenOf(value: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-f:]+\]|[0-9.]+|localhost):)?(\d{1,5})$/i.exec(value);
  if (!match || Number(match[2]) > 65535) throw new UsageError('--metrics-listen is [host:]port, e.g. 9464 or 127.0.0.1:9464.');
  return { host: (match[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/** The installed package's version, from its package.json (a small synchronous read). */
function packageVersion(): string {
  try {
    return String((JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

export function buildProgram(run: (code: Promise<number>) => void): Command {
  const program = new Command('gatehouse')
    .description('Let your own devices into your own machine, and nobody else.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Getting started (in the project folder, after npm install):
  npx gatehouse start                                      run it all on this machine
  npx gatehouse connect security --mode client-approval    ask before any new device gets in
  npx gatehouse connect security clients --watch           see devices ask, live
  npx gatehouse connect security approve --code XXXX-XXXX  let one in by the code it shows
  npx gatehouse login --relay <url>                        sign in to your account (once per data directory)
  npx gatehouse client connect                             connect this machine as a device

Every command takes --data-dir DIR and --json; npx gatehouse <command> --help says more.
Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 blocked (waiting for approval or rejected).`,
    )
    .exitOverride()
    // Commander's own errors (unknown option or command, bad choice) echo the argument too; set before
    // any subcommand is added, so every one inherits it.
    .configureOutput({ outputError: (text, write) => write(text.split('\n').map((line) => oneLine(line)).join('\n')) });
  const common = (cmd: Command) => cmd.option('--data-dir <dir>', 'data directory (default $GATEHOUSE_DATA_DIR or ./.gatehouse)').option('--json', 'print JSON instead of text');

  common(program.command('start'))
    .description('run relay + environment + dev account issuer on 127.0.0.1 (the embedded default); --json prints one object with its URLs and ids')
    .option('--env-port <n>', 'environment port (0 picks a free one; default $GATEHOUSE_ENV_PORT or 4100)')
    .option('--relay-port <n>', 'relay port (0 picks a free one; default $GATEHOUSE_RELAY_PORT or 4200)')
    .option('--allow-private-webhooks', 'let webhooks go to private, loopback or link-local addresses')
    .action((o: Common & { envPort?: string; relayPort?: string; allowPrivateWebhooks?: boolean }) => {
      const opts = { dataDir: dataDirOf(o.dataDir), envPort: portOf(o.envPort, 'GATEHOUSE_ENV_PORT', 4100), relayPort: portOf(o.relayPort, 'GATEHOUSE_RELAY_PORT', 4200), allowPrivateWebhooks: !!o.allowPrivateWebhooks, json: !!o.json };
      run(import('./commands/serve').then(({ runStart }) => runStart(opts)));
    });

  const env = program.command('env').description('the environment server');
  common(env.command('start'))
    .description('run only the environment')
    .option('--port <n>', 'port (default $GATEHOUSE_ENV_PORT or 4100)')
    .option('--public-url <url>', 'the URL the owner opens (cookies, CSRF origin); the environment needs no public address')
    .option('--relay <url>', 'the relay to tunnel to (links first when not linked there yet: with --account or --id-token)')
    .option('--account <name>', 'dev issuer account name, to link at start')
    .option('--id-token <jwt>', 'an OpenID Connect ID token of the owner’s account, to link at start')
    .option('--allow-private-webhooks', 'let webhooks go to private, loopback or link-local addresses')
    .action((o: Common & { port?: string; publicUrl?: string; relay?: string; account?: string; idToken?: string; allowPrivateWebhooks?: boolean }) => {
      run(
        (async () => {
          if (o.account && o.idToken) throw new UsageError('Pass at most one of --account NAME or --id-token JWT.');
          if ((o.account || o.idToken) && !o.relay) throw new UsageError('--account and --id-token link to a relay: pass --relay URL too.');
          const { runEnvStart } = await import('./commands/serve');
          return runEnvStart({
            dataDir: dataDirOf(o.dataDir),
            port: portOf(o.port, 'GATEHOUSE_ENV_PORT', 4100),
            ...(o.publicUrl && { publicUrl: urlOf(o.publicUrl, '--public-url')! }),
            ...(o.relay && { relay: urlOf(o.relay, '--relay')! }),
            ...(o.account && { account: o.account }),
            ...(o.idToken && { idToken: o.idToken }),
            ...(o.allowPrivateWebhooks && { allowPrivateWebhooks: true }),
            json: !!o.json,
          });
        })(),
      );
    });

  const relay = program.command('relay').description('the relay server');
  common(relay.command('start'))
    .description('run only the relay')
    .option('--port <n>', 'port (default $GATEHOUSE_RELAY_PORT or 4200)')
    .option('--public-url <url>', 'the URL clients use (DPoP htu, token issuer)')
    .option('--database-url <url>', 'shared PostgreSQL database postgres://… for several relay instances (default $GATEHOUSE_RELAY_DATABASE_URL, else SQLite in <data-dir>/relay)')
    .option('--account-issuer <url>', 'OpenID provider for account tokens (default: the dev issuer)')
    .option('--account-audience <aud>', 'audience of account ID tokens')
    .option('--account-client-id <id>', 'the public client id Gatehouse clients sign in with at --account-issuer (default: the audience)')
    .option('--allow-origin <origin...>', 'web origins allowed to call the relay from a browser')
    .option('--dev-issuer', 'mount the dev account issuer (any username, no password: development only, loopback callers only)')
    .option('--environment-host-suffix <suffix>', 'serve device pages on {label}.<suffix> (a wildcard DNS name and certificate), e.g. relay.example.com')
    .option('--allow-private-endpoints', 'let environments name direct endpoints on private, loopback or link-local addresses')
    .option('--metrics-listen <[host:]port>', 'serve Prometheus metrics at GET /metrics there (host defaults to 127.0.0.1; off by default)')
    .option('--internal-url <url>', 'with --database-url: where the other relay instances reach this one (http://private-address:port); it listens there for their forwarded requests')
    .option('--trust-proxy <address...>', 'reverse proxies in front of this relay, by the IP address they connect from: for their connections the caller is the last X-Forwarded-For address (default: none, the header is ignored)')
    .option('--internal-secret-file <file>', 'the secret every relay instance shares for the internal hop (≥ 32 characters, e.g. openssl rand -base64 48)')
    .action((o: Common & { trustProxy?: string[]; internalUrl?: string; internalSecretFile?: string; port?: string; publicUrl?: string; databaseUrl?: string; accountIssuer?: string; accountAudience?: string; accountClientId?: string; allowOrigin?: string[]; devIssuer?: boolean; environmentHostSuffix?: string; allowPrivateEndpoints?: boolean; metricsListen?: string }) => {
      run(
        (async () => {
          const [{ isPostgresUrl }, { relayDataDir, runRelayStart }] = await Promise.all([import('../relay/pg-store'), import('./commands/serve')]);
          const databaseUrl = o.databaseUrl ?? (process.env.GATEHOUSE_RELAY_DATABASE_URL || undefined);
          if (databaseUrl !== undefined && !isPostgresUrl(databaseUrl)) throw new UsageError('--database-url must be a PostgreSQL URL (postgres://user:password@host:5432/database).');
          if (!!o.accountIssuer !== !!o.accountAudience) throw new UsageError('--account-issuer and --account-audience go together.');
          if (o.accountClientId !== undefined && !o.accountIssuer) throw new UsageError('--account-client-id goes with --account-issuer (the dev issuer’s client id is fixed).');
          if (!o.accountIssuer && !o.devIssuer) throw new UsageError('Name the account issuer: --account-issuer URL --account-audience AUD (or --dev-issuer for development).');
          if (o.environmentHostSuffix !== undefined && !/^(?:[a-z0-9-]+\.)*[a-z0-9-]+(?::\d{1,5})?$/i.test(o.environmentHostSuffix)) {
            throw new UsageError('--environment-host-suffix is a host name (optionally with :port), e.g. relay.example.com.');
          }
          if (!!o.internalUrl !== !!o.internalSecretFile) throw new UsageError('--internal-url and --internal-secret-file go together.');
          const bad = (o.trustProxy ?? []).find((a) => !isIP(a));
          if (bad !== undefined) throw new UsageError(`--trust-proxy takes the IP addresses proxies connect from (e.g. 127.0.0.1), not "${bad}".`);
          if (o.internalUrl && !databaseUrl) throw new UsageError('--internal-url is for several relay instances on one PostgreSQL database: add --database-url.');
          return runRelayStart({
            ...(o.internalUrl && { internalUrl: urlOf(o.internalUrl, '--internal-url')!, internalSecretFile: o.internalSecretFile! }),
            dataDir: relayDataDir(dataDirOf(o.dataDir)),
            port: portOf(o.port, 'GATEHOUSE_RELAY_PORT', 4200),
            ...(o.trustProxy && { trustedProxies: o.trustProxy }),
            devIssuer: !!o.devIssuer,
            allowPrivateEndpoints: !!o.allowPrivateEndpoints,
            ...(o.metricsListen !== undefined && { metricsListen: metricsListenOf(o.metricsListen) }),
            ...(o.environmentHostSuffix && { environmentHostSuffix: o.environmentHostSuffix }),
            allowedOrigins: o.allowOrigin ?? [],
            ...(databaseUrl && { databaseUrl }),
            ...(o.publicUrl && { publicUrl: urlOf(o.publicUrl, '--public-url')! }),
            ...(o.accountIssuer && { accountIssuer: { issuer: urlOf(o.accountIssuer, '--account-issuer')!, audience: o.accountAudience! } }),
            ...(o.accountClientId && { accountClientId: o.accountClientId }),
            json: !!o.json,
          });
        })(),
      );
    });

  const connect = program.command('connect').description('link to a relay and decide who may connect');
  common(connect.command('link'))
    .description('link this environment to a relay for an account')
    .requiredOption('--relay <url>', 'relay URL')
    .option('--account <name>', 'dev issuer only: sign this username in without a browser (scripts)')
    .option('--id-token <jwt>', 'an OpenID Connect ID token of the owner’s account (automation); default: your `gatehouse login`')
    .option('--direct-endpoint <url>', 'also let the relay call this environment directly at this URL (it has a public address); default: tunnel only')
    .action((o: Common & { relay: string; account?: string; idToken?: string; directEndpoint?: string }) => {
      const opts = {
        dataDir: dataDirOf(o.dataDir),
        relay: urlOf(o.relay, '--relay')!,
        ...(o.account && { account: o.account }),
        ...(o.idToken && { idToken: o.idToken }),
        ...(o.directEndpoint && { directEndpoint: o.directEndpoint }),
      };
      run(import('./commands/connect-link').then(({ runLink }) => runLink(createOutput(!!o.json), opts)));
    });
  common(connect.command('unlink'))
    .description('remove the relay link (clients and mode are kept)')
    .action((o: Common) => run(import('./commands/connect-link').then(({ runUnlink }) => runUnlink(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir) }))));
  common(connect.command('status'))
    .description('link, relay and security mode')
    .action((o: Common) => run(import('./commands/connect-link').then(({ runStatus }) => runStatus(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir) }))));
  registerSecurityCommands(connect, common, run);
  registerWebhookCommands(connect, common, run);

  common(program.command('login'))
    .description('sign in to the account issuer a relay names (device code, or a browser on this machine); keeps the tokens in the data directory')
    .requiredOption('--relay <url>', 'relay URL')
    .action((o: Common & { relay: string }) =>
      run(
        import('./commands/account-login').then(({ runLogin }) => runLogin(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir), relay: urlOf(o.relay, '--relay')! })),
      ),
    );
  common(program.command('logout'))
    .description('forget the account sign-in kept by `gatehouse login` (owner browser sessions: `gatehouse owner logout`)')
    .action((o: Common) => run(import('./commands/account-login').then(({ runLogout }) => runLogout(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir) }))));

  const owner = program.command('owner').description('owner access');
  common(owner.command('login-url'))
    .description('print a fresh one-time owner login link')
    .action((o: Common) => run(import('./commands/owner-login-url').then(({ runLoginUrl }) => runLoginUrl(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir) }))));
  common(owner.command('logout'))
    .description('end owner browser sessions of the settings page: --all signs out every browser (not your account sign-in: that is `gatehouse logout`)')
    .option('--all', 'end every owner session')
    .action((o: Common & { all?: boolean }) => run(import('./commands/owner-logout').then(({ runOwnerLogout }) => runOwnerLogout(createOutput(!!o.json), { dataDir: dataDirOf(o.dataDir), all: !!o.all }))));

  const client = program.command('client').description('this machine as a client device');
  common(client.command('connect'))
    .description('connect to an environment through the relay (waits for approval)')
    .option('--environment <id>', 'environment id (default: the one --invite names, else the environment running on --data-dir)')
    .option('--invite <url>', "an invite URL from the owner (npx gatehouse connect invite create): this device is let in at once; quote it, it has a '#'")
    .option('--relay <url>', 'relay URL (default $GATEHOUSE_RELAY_URL, else the invite\'s relay, else the relay of the environment running on --data-dir, else http://127.0.0.1:4200)')
    .option('--account <name>', 'dev issuer only: sign this username in without a browser (scripts)')
    .option('--id-token <jwt>', 'an OpenID Connect ID token of your account, for automation (env GATEHOUSE_ID_TOKEN); default: your `npx gatehouse login`')
    .option('--key-file <path>', 'client key file (default <data-dir>/client-key.json)')
    .option('--label <text>', 'how this client is shown to the owner (default: host name)')
    .addOption(new Option('--no-wait', 'answer at once instead of waiting for approval'))
    .action((o: Common & { environment?: string; invite?: string; relay?: string; account?: string; idToken?: string; keyFile?: string; label?: string; wait: boolean }) => {
      const idToken = o.idToken ?? (process.env.GATEHOUSE_ID_TOKEN || undefined);
      const dataDir = dataDirOf(o.dataDir);
      const relay = urlOf(o.relay, '--relay') ?? urlOf(process.env.GATEHOUSE_RELAY_URL || undefined, 'GATEHOUSE_RELAY_URL');
      run(
        import('./commands/client-connect').then(({ resolveClientTarget, runClientConnect }) => {
          // An invite names its environment and relay; without one, the data directory's running environment does.
          const target = o.invite ? { ...(o.environment && { environment: o.environment }), ...(relay && { relay, relaySource: 'flag' as const }) } : resolveClientTarget(dataDir, { environment: o.environment, relay });
          return runClientConnect(createOutput(!!o.json), {
            dataDir,
            ...target,
            ...(o.invite && { invite: o.invite }),
            ...(o.account && { account: o.account }),
            ...(idToken && { idToken }),
            wait: o.wait,
            ...(o.keyFile && { keyFile: o.keyFile }),
            ...(o.label && { label: o.label }),
          });
        }),
      );
    });
  type ClientSessionFlags = Common & { environment: string; relay?: string; account?: string; idToken?: string; keyFile?: string };
  /** What every `client` command that connects as this device takes: environment, relay and how to sign in. */
  const clientSessionOpts = (o: ClientSessionFlags) => {
    const idToken = o.idToken ?? (process.env.GATEHOUSE_ID_TOKEN || undefined);
    return {
      dataDir: dataDirOf(o.dataDir),
      environment: o.environment,
      relay: urlOf(o.relay ?? process.env.GATEHOUSE_RELAY_URL ?? 'http://127.0.0.1:4200', '--relay')!,
      ...(o.account && { account: o.account }),
      ...(idToken && { idToken }),
      ...(o.keyFile && { keyFile: o.keyFile }),
    };
  };
  const clientSessionCommand = (name: string, description: string) =>
    common(client.command(name))
      .description(description)
      .requiredOption('--environment <id>', 'environment id')
      .option('--relay <url>', 'relay URL (default $GATEHOUSE_RELAY_URL or http://127.0.0.1:4200)')
      .option('--account <name>', 'dev issuer only: sign this username in without a browser (scripts)')
      .option('--id-token <jwt>', 'an OpenID Connect ID token of your account, for automation (env GATEHOUSE_ID_TOKEN); default: your `npx gatehouse login`')
      .option('--key-file <path>', 'client key file (default <data-dir>/client-key.json)');
  clientSessionCommand('approvals', 'from an approver device: list the devices waiting for approval, with their codes')
    .option('--watch', 'keep watching: a line when a device starts waiting and when it is decided')
    .action((o: ClientSessionFlags & { watch?: boolean }) =>
      run(
        import('./commands/client-approvals').then(({ runClientApprovals, runClientApprovalsWatch }) =>
          (o.watch ? runClientApprovalsWatch : runClientApprovals)(createOutput(!!o.json), clientSessionOpts(o)),
        ),
      ),
    );
  clientSessionCommand('approve', 'from an approver device: approve another device for a time (at most 7 days)')
    .argument('<thumbprint>', 'the device’s thumbprint, or a unique prefix of 8+ characters')
    .option('--for <duration>', 'how long: 1h, 8h, 24h or 7d', '24h')
    .action((thumbprint: string, o: ClientSessionFlags & { for: string }) => {
      const expiresInSeconds = parseDuration(o.for, '--for', { minSeconds: 60, maxSeconds: 7 * 86_400, examples: '1h, 8h, 24h or 7d' });
      run(import('./commands/client-approvals').then(({ runClientApprove }) => runClientApprove(createOutput(!!o.json), { ...clientSessionOpts(o), thumbprint, expiresInSeconds })));
    });

  clientSessionCommand('rotate-key', 'move this client’s approval to a new key (it stays approved; the old key stops working)').action((o: ClientSessionFlags) =>
    run(import('./commands/client-rotate-key').then(({ runClientRotateKey }) => runClientRotateKey(createOutput(!!o.json), clientSessionOpts(o)))),
  );
  return program;
}

function describe(error: unknown): { code: number; message: string } {
  if (error instanceof UsageError) return { code: EXIT.usage, message: error.message };
  if (error instanceof CliError) return { code: error.exitCode, message: error.message };
  if (error instanceof DomainError) return { code: error.kind === 'not_found' ? EXIT.notFound : EXIT.failure, message: error.message };
  if (error instanceof ConnectionBlockedError) return { code: error.reason === 'permission' ? EXIT.blocked : EXIT.failure, message: error.detail };
  if (error instanceof ConnectFailedError) return { code: EXIT.failure, message: error.message };
  return { code: EXIT.failure, message: error instanceof Error ? error.message : String(error) };
}

/** Runs the CLI and returns its exit code; errors are printed as one line, never a stack. */
export async function main(argv: string[]): Promise<number> {
  let pending: Promise<number> | null = null;
  const program = buildProgram((code) => {
    pending = code;
  });
  try {
    await program.parseAsync(argv);
    if (!pending) return EXIT.ok;
    return await pending;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    const { code, message } = describe(error);
    process.stderr.write(`gatehouse: ${oneLine(message)}\n`);
    return code;
  }
}

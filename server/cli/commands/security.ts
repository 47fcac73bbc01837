// What `gatehouse connect security [--mode …] | clients | approve|reject|revoke <thumbprint>` do
// (SPEC §8); their flags and help are in security-commands.ts.
import { spell } from '../duration';
import { actorLabel, describeAuditEntry } from '../../../shared/audit-text';
import type { ConnectClient, SecurityMode } from '../../../shared/contracts';
import { CODE_ALPHABET } from '../../../shared/verification-code';
import { CliError, EXIT, UsageError } from '../options';
import type { Output } from '../output';
import { MIN_PREFIX, type Decision } from './security-commands';
import { clientLines, clientTitle, endedSessionsSentence, modeSentence, printable } from './security-format';
import { openSecurityTarget, DIRECT_READ_NOTE, DIRECT_WRITE_NOTE, type SecurityTarget } from './security-target';

const THUMBPRINT_LENGTH = 43;

export async function runMode(out: Output, opts: { dataDir: string; mode?: SecurityMode }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    if (target.via === 'database' && !opts.mode) out.note(DIRECT_READ_NOTE);
    if (!opts.mode) {
      const mode = await target.getMode();
      out.data({ mode });
      out.line(modeSentence(mode));
      return EXIT.ok;
    }
    const { mode, endedSessions } = await target.setMode(opts.mode);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data({ mode, endedSessions });
    out.line(endedSessions > 0 ? `${modeSentence(mode)} ${endedSessionsSentence(endedSessions)}` : modeSentence(mode));
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

/** A full thumbprint or a unique prefix of at least 8 characters → that active client. */
export async function resolveClient(target: SecurityTarget, given: string): Promise<ConnectClient> {
  if (!/^[A-Za-z0-9_-]+$/.test(given) || given.length > THUMBPRINT_LENGTH) {
    throw new UsageError(`"${printable(given)}" is not a thumbprint: expected up to ${THUMBPRINT_LENGTH} base64url characters (A–Z, a–z, 0–9, - and _).`);
  }
  if (given.length < MIN_PREFIX) {
    throw new UsageError(`"${given}" is too short: give at least ${MIN_PREFIX} characters of the thumbprint (see \`npx gatehouse connect security clients\`), or --code XXXX-XXXX.`);
  }
  const matches = await target.findByPrefix(given);
  const exact = matches.find((c) => c.clientProofKeyThumbprint === given);
  if (exact) return exact;
  const [only, ...others] = matches;
  if (!only) throw new CliError(`No active Connect client found for ${given}.`, EXIT.notFound);
  if (others.length > 0) {
    throw new UsageError(`"${given}" matches ${matches.length} Connect clients: ${listed(matches)}. Give more characters of the thumbprint.`);
  }
  return only;
}

const listed = (clients: ConnectClient[]): string => {
  const shown = clients.slice(0, 10).map((c) => `${c.clientProofKeyThumbprint} (${c.status}, ${clientTitle(c)}, ${c.verificationCode})`);
  return `${shown.join(', ')}${clients.length > shown.length ? ` and ${clients.length - shown.length} more` : ''}`;
};

/** `XXXX-XXXX` as a device shows it; case, spaces and the dash are forgiven. */
export function normalizeCode(given: string): string {
  const compact = given.toUpperCase().replace(/[\s-]/g, '');
  if (compact.length !== 8 || [...compact].some((ch) => !CODE_ALPHABET.includes(ch))) {
    throw new UsageError(`"${printable(given)}" is not a verification code: it is 8 characters from ${CODE_ALPHABET}, written XXXX-XXXX, as the device shows it.`);
  }
  return `${compact.slice(0, 4)}-${compact.slice(4)}`;
}

/** Which clients a code may pick: approve and reject answer a device that is asking; revoke ends any active one. */
const codeCandidates: Record<Decision, (c: ConnectClient) => boolean> = {
  approve: (c) => c.status === 'pending',
  reject: (c) => c.status === 'pending',
  revoke: () => true,
};

/** The one client that a decision by verification code means; none or several is a clear error. */
export async function resolveByCode(target: SecurityTarget, given: string, decision: Decision): Promise<ConnectClient> {
  const code = normalizeCode(given);
  const matches = (await target.listClients()).filter((c) => c.verificationCode === code && codeCandidates[decision](c));
  const which = decision === 'revoke' ? 'active' : 'pending';
  const [only, ...others] = matches;
  if (!only) throw new CliError(`No ${which} Connect client shows the code ${code}. Check the code on the device, or list them with \`npx gatehouse connect security clients\`.`, EXIT.notFound);
  if (others.length > 0) throw new UsageError(`${matches.length} ${which} Connect clients show the code ${code}: ${listed(matches)}. Give the thumbprint instead.`);
  return only;
}

const pastTense: Record<Decision, string> = { approve: 'Approved', reject: 'Rejected', revoke: 'Revoked' };

export async function runDecision(out: Output, opts: { dataDir: string; decision: Decision; thumbprint?: string; code?: string; expiresInSeconds?: number }): Promise<number> {
  if ((opts.thumbprint === undefined) === (opts.code === undefined)) {
    throw new UsageError(`Say which client to ${opts.decision}: its thumbprint (or 8+ characters of it), or --code XXXX-XXXX — one of the two.`);
  }
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const client = opts.code !== undefined ? await resolveByCode(target, opts.code, opts.decision) : await resolveClient(target, opts.thumbprint!);
    const thumbprint = client.clientProofKeyThumbprint;
    const result = opts.decision === 'approve' ? await target.approve(thumbprint, opts.expiresInSeconds) : await target[opts.decision](thumbprint);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(result);
    const until = 'client' in result && result.client.approvalExpiresAt ? ` until ${result.client.approvalExpiresAt} (${spell(opts.expiresInSeconds ?? 0)}); then it asks again` : '';
    // The device as the owner knows it (its name and the code it shows), then the thumbprint for scripts.
    out.line(`${pastTense[opts.decision]} Connect client "${clientTitle('client' in result ? result.client : client)}" (code ${client.verificationCode}, ${thumbprint})${until}.`);
    // Approving never ends sessions (SPEC §5.2); rejecting and revoking say how many they ended.
    if (opts.decision !== 'approve') out.line(endedSessionsSentence(result.endedSessions));
    return EXIT.ok;
  } finally {
    target.close();
  }
}

/** The audit log, newest first, rendered from its typed details like the settings page's "Activity". */
export async function runAudit(out: Output, opts: { dataDir: string; limit: number }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    if (target.via === 'database') out.note(DIRECT_READ_NOTE);
    const entries = await target.listAudit(opts.limit);
    out.data({ entries });
    if (entries.length === 0) out.line('Nothing has happened yet.');
    for (const e of entries) {
      const name = e.clientProofKeyThumbprint ? `client ${e.clientProofKeyThumbprint.slice(0, 8)}` : null;
      out.line(`${e.at}  ${actorLabel[e.actor].padEnd(13)}  ${printable(describeAuditEntry(e, name))}`);
    }
    return EXIT.ok;
  } finally {
    target.close();
  }
}

/** `connect security approver <t> [--off]` (SPEC §13, S59). */
export async function runSetApprover(out: Output, opts: { dataDir: string; thumbprint: string; approver: boolean }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const thumbprint = (await resolveClient(target, opts.thumbprint)).clientProofKeyThumbprint;
    const result = await target.setApprover(thumbprint, opts.approver);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(result);
    out.line(opts.approver ? `${thumbprint} is now an approver: it can approve (for at most 7 days) and reject other devices, never itself.` : `${thumbprint} is no longer an approver.`);
    return EXIT.ok;
  } finally {
    target.close();
  }
}

// What `gatehouse connect security [--mode …] | clients | approve|reject|revoke <thumbprint>` do
// (SPEC §8); their flags and help are in security-commands.ts.
import { spell } from '../duration';
import { actorLabel, describeAuditEntry } from '../../../shared/audit-text';
import type { SecurityMode } from '../../../shared/contracts';
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

export async function runDecision(out: Output, opts: { dataDir: string; decision: Decision; thumbprint: string; expiresInSeconds?: number }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const thumbprint = await resolveThumbprint(target, opts.thumbprint);
    const result = opts.decision === 'approve' ? await target.approve(thumbprint, opts.expiresInSeconds) : await target[opts.decision](thumbprint);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(result);
    const until = 'client' in result && result.client.approvalExpiresAt ? ` until ${result.client.approvalExpiresAt} (${spell(opts.expiresInSeconds ?? 0)}); then it asks again` : '';
    out.line(`${pastTense[opts.decision]} Connect client ${thumbprint}${until}.`);
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
    const thumbprint = await resolveThumbprint(target, opts.thumbprint);
    const result = await target.setApprover(thumbprint, opts.approver);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(result);
    out.line(opts.approver ? `${thumbprint} is now an approver: it can approve (for at most 7 days) and reject other devices, never itself.` : `${thumbprint} is no longer an approver.`);
    return EXIT.ok;
  } finally {
    target.close();
  }
}

// How audit entries read, on the settings page and in the CLI: rendered from the typed detail.
import type { AuditActor, AuditRecord, LegacyAuditRecord } from './contracts';

export const actorLabel: Record<AuditActor, string> = {
  web: 'Settings page',
  cli: 'CLI',
  api: 'API',
  system: 'Gatehouse',
  invite: 'Invite',
  approver: 'Approver device',
  client: 'The device',
};

const modeName = (mode: string | null) => (mode === 'client-approval' ? 'client approval' : mode === 'account' ? 'account access' : mode === null ? 'unreadable' : mode);
const sessions = (n: number) => (n === 1 ? '1 session' : `${n} sessions`);

const isLegacy = (entry: AuditRecord | LegacyAuditRecord): entry is LegacyAuditRecord => 'legacy' in entry.detail;

/** One line for an entry; `clientName` names the entry's client where known. */
export function describeAuditEntry(entry: AuditRecord | LegacyAuditRecord, clientName: string | null): string {
  const who = clientName ?? 'a client';
  // Written before details were structured, in a shape nothing could read back: shown as it was.
  if (isLegacy(entry)) return `${entry.action.replace(/_/g, ' ')}${entry.detail.legacy ? `: ${entry.detail.legacy}` : ''}`;
  const e = entry;
  const ended = 'endedSessions' in e.detail && e.detail.endedSessions !== undefined && e.detail.endedSessions > 0 ? ` (ended ${sessions(e.detail.endedSessions)})` : '';
  switch (e.action) {
    case 'security_mode_set':
      return `Changed the security mode from ${modeName(e.detail.from)} to ${modeName(e.detail.to)}${ended}`;
    case 'client_requested':
      return `${who} asked to connect`;
    case 'client_approved':
      return `Approved ${who}`;
    case 'client_rejected':
      return `Rejected ${who}${ended}`;
    case 'client_revoked':
      return `Revoked ${who}${ended}`;
    case 'client_account_changed':
      return `${who} asked again from a different account; its earlier decision was cleared${ended}`;
    case 'pending_expired':
    case 'pending_evicted': {
      // One entry stands for every drop in its window.
      const many = e.detail.count > 1;
      const subject = many ? `${e.detail.count} pending requests` : clientName ? `The request of ${clientName}` : 'A pending request';
      const verb = e.action === 'pending_expired' ? 'expired after 24 hours' : `${many ? 'were' : 'was'} dropped (too many pending requests)`;
      return `${subject} ${verb}`;
    }
    case 'client_renamed':
      return e.detail.to === null ? `Cleared the name of ${who}` : `Renamed ${e.detail.from === null ? who : e.detail.from} to ${e.detail.to}`;
    case 'client_sessions_ended':
      return `Ended the sessions of ${who}${ended}`;
    case 'approval_expired':
      return `The approval of ${who} expired${ended}`;
    case 'client_joined_with_invite':
      return `${who} joined with invite${e.detail.inviteLabel ? ` '${e.detail.inviteLabel}'` : ''}`;
    case 'invite_created':
      return `Created invite${e.detail.label ? ` '${e.detail.label}'` : ''} (expires ${e.detail.expiresAt})`;
    case 'invite_revoked':
      return `Revoked invite${e.detail.label ? ` '${e.detail.label}'` : ''}`;
    case 'lockdown_set':
      return e.detail.until === null ? 'New devices are accepted again' : `Paused new devices until ${e.detail.until}`;
    case 'client_key_rotated':
      return `${who} moved to a new key (${e.detail.oldThumbprint.slice(0, 8)}… → ${e.detail.newThumbprint.slice(0, 8)}…)${ended}`;
    case 'approver_set':
      return e.detail.approver ? `Made ${who} an approver` : `${who} is no longer an approver`;
    case 'passkey_registered':
      return `Registered passkey '${e.detail.passkeyName}'`;
    case 'passkey_removed':
      return `Removed passkey '${e.detail.passkeyName}'`;
    case 'passkey_renamed':
      return `Renamed passkey '${e.detail.from}' to '${e.detail.to}'`;
    case 'webhook_created':
      return `Added a webhook to ${e.detail.host}`;
    case 'webhook_removed':
      return `Removed the webhook to ${e.detail.host}`;
    case 'owner_signed_out':
      return e.detail.all ? `Signed out everywhere${ended}` : 'Signed out';
  }
}

// How audit entries read on the settings page: who, what, when.
import type { AuditEntry } from '../trpc';

export const actorLabel: Record<AuditEntry['actor'], string> = {
  web: 'Settings page',
  cli: 'CLI',
  api: 'API',
  system: 'Gatehouse',
};

const modeName = (mode: string) => (mode === 'client-approval' ? 'client approval' : mode === 'account' ? 'account access' : mode);

export function describeAuditEntry(entry: Pick<AuditEntry, 'action' | 'detail'>, clientName: string | null): string {
  const who = clientName ?? 'a client';
  const ended = entry.detail?.match(/ended (\d+) session/)?.[1];
  const endedText = ended ? ` (ended ${ended === '1' ? '1 session' : `${ended} sessions`})` : '';
  switch (entry.action) {
    case 'security_mode_set': {
      // "account → client-approval", then "; ended N session(s) …" when the switch ended some (S57).
      const [from, rest] = (entry.detail ?? '').split(' → ');
      const to = rest?.split(';')[0];
      return to ? `Changed the security mode from ${modeName(from ?? '')} to ${modeName(to)}${endedText}` : 'Changed the security mode';
    }
    case 'client_requested':
      return `${who} asked to connect`;
    case 'client_approved':
      return `Approved ${who}`;
    case 'client_rejected':
      return `Rejected ${who}${endedText}`;
    case 'client_revoked':
      return `Revoked ${who}${endedText}`;
    case 'client_account_changed':
      return `${who} asked again from a different account; its earlier decision was cleared`;
    case 'pending_expired':
    case 'pending_evicted': {
      // One entry stands for every drop in its minute: "dropped N pending client(s), …".
      const count = Number(entry.detail?.match(/^dropped (\d+) pending/)?.[1] ?? 1);
      const many = count > 1;
      const subject = many ? `${count} pending requests` : clientName ? `The request of ${clientName}` : 'A pending request';
      const verb = entry.action === 'pending_expired' ? 'expired after 24 hours' : `${many ? 'were' : 'was'} dropped (too many pending requests)`;
      return `${subject} ${verb}`;
    }
    default:
      return entry.detail ? `${entry.action.replace(/_/g, ' ')}: ${entry.detail}` : entry.action.replace(/_/g, ' ');
  }
}

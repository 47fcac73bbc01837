// Human lines for Connect clients, modes and access events (SPEC §7's row, as terminal text).
import type { AccessEvent, ConnectClient, SecurityMode } from '../../../shared/contracts';

export const modeSentence = (mode: SecurityMode): string =>
  mode === 'client-approval' ? 'Connect client approval is required.' : 'Connect uses account-wide access.';

/** Labels and OS names are client-supplied: never let them drive the terminal (C1 controls, bidi overrides). */
export const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');

/** How the owner knows a device: its owner-set name, else the label it gave itself, else its OS. */
export const clientTitle = (c: ConnectClient): string =>
  // The owner's name for it first, as on the settings page; every CLI line follows.
  printable(c.name ?? c.client.label ?? c.client.os ?? `Client ${c.clientProofKeyThumbprint.slice(0, 8)}`);

export function ago(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

/** Device type, OS, and when it last asked, connected or was decided. */
export function clientDetails(c: ConnectClient, now: number): string {
  const parts: string[] = [c.client.deviceType];
  if (c.client.os) parts.push(printable(c.client.os));
  if (c.status === 'pending' && c.approvalExpiredAt) parts.push(`approval expired ${ago(c.approvalExpiredAt, now)}`);
  if (c.status === 'pending') parts.push(`requested ${ago(c.requestedAt, now)}${c.requestCount > 1 ? ` (${c.requestCount} requests)` : ''}`);
  else if (c.status === 'approved') parts.push(c.lastSeenAt ? `last connected ${ago(c.lastSeenAt, now)}` : `approved ${ago(c.approvedAt ?? c.updatedAt, now)}, not connected yet`);
  else parts.push(`rejected ${ago(c.rejectedAt ?? c.updatedAt, now)}`);
  if (c.status === 'approved' && c.approvalExpiresAt) parts.push(`approved until ${c.approvalExpiresAt}`);
  return parts.join(', ');
}

/** One line per client, columns aligned across the list: thumbprint, status, title, code, details. */
export function clientLines(clients: ConnectClient[], now: number): string[] {
  const titleWidth = Math.max(0, ...clients.map((c) => clientTitle(c).length));
  return clients.map((c) => `${c.clientProofKeyThumbprint}  ${c.status.padEnd(8)}  ${clientTitle(c).padEnd(titleWidth)}  ${c.verificationCode}  ${clientDetails(c, now)}`);
}

export const endedSessionsSentence = (n: number): string => `Ended ${n} client session${n === 1 ? '' : 's'}.`;

/** The wall-clock time a `--watch` line happened, to the second (UTC, as the audit log writes it). */
export const watchTime = (now: number): string => new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * `--watch` without --json: a readable line (or block, for the snapshot) per change, each with the
 * time and the device's name. A waiting device re-asks every ~25 s and each ask is an upsert event;
 * those repeat what was already printed, so only a change of state (or of its name) gets a line.
 */
export function createWatchPrinter(now: () => number = Date.now) {
  // What was last printed per device: its status, name and code.
  const shown = new Map<string, { status: string; title: string; code: string }>();
  const remember = (c: ConnectClient) => shown.set(c.clientProofKeyThumbprint, { status: c.status, title: clientTitle(c), code: c.verificationCode });
  return function eventLines(event: AccessEvent): string[] {
    const at = watchTime(now());
    switch (event.type) {
      case 'snapshot': {
        const { connectSecurityMode: mode, connectSecurityModeError: error, connectClients: clients } = event.payload;
        shown.clear();
        for (const c of clients) remember(c);
        return [
          `${at}  snapshot  ${mode ? modeSentence(mode) : `Connect security mode unreadable: ${error ?? 'unknown value'}`} ${clients.length} client${clients.length === 1 ? '' : 's'}.`,
          ...clientLines(clients, now()).map((line) => `  ${line}`),
        ];
      }
      case 'connectSecurityModeUpdated':
        return [`${at}  mode      ${modeSentence(event.payload.mode)}`];
      case 'connectClientUpserted': {
        const c = event.payload;
        const before = shown.get(c.clientProofKeyThumbprint);
        if (before && before.status === c.status && before.title === clientTitle(c)) return [];
        remember(c);
        return [`${at}  ${c.status.padEnd(8)}  "${clientTitle(c)}" (code ${c.verificationCode})  ${clientDetails(c, now())}  ${c.clientProofKeyThumbprint}`];
      }
      case 'connectClientRemoved': {
        const t = event.payload.clientProofKeyThumbprint;
        const before = shown.get(t);
        shown.delete(t);
        return [`${at}  removed   ${before ? `"${before.title}" (code ${before.code})  ` : ''}${t}`];
      }
      case 'summary': {
        // Only a stream asked with `opening: 'summary'` (the owner console) starts with one; --watch asks for the snapshot.
        const { connectSecurityMode: mode, connectSecurityModeError: error, counts } = event.payload;
        shown.clear();
        return [`${at}  summary   ${mode ? modeSentence(mode) : `Connect security mode unreadable: ${error ?? 'unknown value'}`} ${counts.pending} pending, ${counts.approved} approved, ${counts.rejected} rejected.`];
      }
    }
  };
}

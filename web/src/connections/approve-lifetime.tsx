// Approval lifetimes on the settings page (SPEC §13): a choice next to Approve (until revoked by
// default), and the row's note once an approval ran out.
import { APPROVAL_LIFETIMES } from '../../../shared/approval-lifetimes';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import type { ConnectClient } from '../trpc';

/** `undefined`: until revoked. */
export type ApprovalLifetime = number | undefined;

export function ApproveLifetimeSelect(props: { title: string; value: ApprovalLifetime; disabled: boolean; onChange: (value: ApprovalLifetime) => void }) {
  return (
    <select
      className="select select-small"
      aria-label={`Approve ${props.title} for`}
      value={props.value === undefined ? '' : String(props.value)}
      disabled={props.disabled}
      onChange={(e) => props.onChange(e.target.value === '' ? undefined : Number(e.target.value))}
    >
      <option value="">Until revoked</option>
      {APPROVAL_LIFETIMES.map((l) => (
        <option key={l.seconds} value={l.seconds}>
          For {l.label}
        </option>
      ))}
    </select>
  );
}

/** "Approved until …" on an approved row with a lifetime; "Approval expired 2h ago · Approve again" on a lapsed one. */
export function ApprovalLifetimeNote(props: { client: ConnectClient; now: number; onApproveAgain: () => void; disabled: boolean }) {
  const { client, now } = props;
  if (client.status === 'approved' && client.approvalExpiresAt) {
    return (
      <p className="client-time">
        Approved until{' '}
        <time dateTime={client.approvalExpiresAt} title={absoluteTime(client.approvalExpiresAt)}>
          {absoluteTime(client.approvalExpiresAt)}
        </time>
      </p>
    );
  }
  if (client.status !== 'pending' || !client.approvalExpiredAt) return null;
  return (
    <p className="client-time">
      Approval expired{' '}
      <time dateTime={client.approvalExpiredAt} title={absoluteTime(client.approvalExpiredAt)}>
        {relativeTime(client.approvalExpiredAt, now)}
      </time>
      {' · '}
      <button type="button" className="link-button" disabled={props.disabled} onClick={props.onApproveAgain}>
        Approve again
      </button>
    </p>
  );
}

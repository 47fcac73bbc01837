import { useId, useState } from 'react';
import { ApprovalLifetimeNote, ApproveLifetimeSelect, type ApprovalLifetime } from './approve-lifetime';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import type { ConnectClient } from '../trpc';
import { clientTitle } from './access-state';
import { runningLabel, type Decision, type RunningDecision } from './use-decisions';

const statusLabel: Record<ConnectClient['status'], string> = { pending: 'Pending', approved: 'Approved', rejected: 'Rejected' };
const deviceTypeLabel: Record<ConnectClient['client']['deviceType'], string> = {
  desktop: 'Desktop',
  mobile: 'Mobile',
  tablet: 'Tablet',
  bot: 'Bot',
  unknown: 'Unknown device',
};

/** Which buttons a row offers (SPEC §7). */
export const decisionsFor: Record<ConnectClient['status'], Decision[]> = {
  pending: ['approve', 'reject', 'revoke'],
  approved: ['revoke'],
  rejected: ['approve', 'revoke'],
};
const buttonLabel: Record<Decision, string> = { approve: 'Approve', reject: 'Reject', revoke: 'Revoke' };

function lastEvent(client: ConnectClient): { text: string; at: string } {
  if (client.status === 'pending') return { text: 'Requested', at: client.requestedAt };
  if (client.status === 'rejected') return { text: 'Rejected', at: client.rejectedAt ?? client.updatedAt };
  if (client.lastSeenAt) return { text: 'Last connected', at: client.lastSeenAt };
  return { text: 'Approved', at: client.approvedAt ?? client.updatedAt };
}

type OnDecide = (client: ConnectClient, decision: Decision, expiresInSeconds?: ApprovalLifetime) => void;

function ClientRow(props: { client: ConnectClient; now: number; running: RunningDecision | null; onDecide: OnDecide }) {
  const { client, now, running } = props;
  const titleId = useId();
  const [lifetime, setLifetime] = useState<ApprovalLifetime>(undefined);
  const when = lastEvent(client);
  const details = deviceTypeLabel[client.client.deviceType];
  const asked = client.status === 'pending' && client.requestCount > 1 ? ` · asked ${client.requestCount} times` : '';
  return (
    <li id={`client-${client.clientProofKeyThumbprint}`} className={`client client-${client.status}`} aria-labelledby={titleId}>
      <span className={`status-dot status-${client.status}`} aria-hidden="true" />
      <div className="client-main">
        <div className="client-heading">
          <h3 id={titleId} className="client-title">
            <bdi>{clientTitle(client)}</bdi>
          </h3>
          <span className={`status-pill status-pill-${client.status}`}>{statusLabel[client.status]}</span>
        </div>
        <dl className="client-facts">
          <div>
            <dt>Verification code</dt>
            <dd>
              <code className="code">{client.verificationCode}</code>
            </dd>
          </div>
          <div>
            <dt>Device</dt>
            <dd>
              {details}
              {client.client.os && (
                <>
                  {' · '}
                  <bdi>{client.client.os}</bdi>
                </>
              )}
            </dd>
          </div>
        </dl>
        <p className="client-time">
          {when.text}{' '}
          <time dateTime={when.at} title={absoluteTime(when.at)}>
            {relativeTime(when.at, now)}
          </time>
          {asked}
        </p>
        <ApprovalLifetimeNote client={client} now={now} disabled={running !== null} onApproveAgain={() => props.onDecide(client, 'approve', lifetime)} />
      </div>
      <div className="client-actions">
        {decisionsFor[client.status].includes('approve') && <ApproveLifetimeSelect title={clientTitle(client)} value={lifetime} disabled={running !== null} onChange={setLifetime} />}
        {decisionsFor[client.status].map((decision) => {
          const mine = running?.clientProofKeyThumbprint === client.clientProofKeyThumbprint && running.decision === decision;
          return (
            <button
              key={decision}
              type="button"
              className={`button button-small ${decision === 'approve' ? 'button-primary' : decision === 'revoke' ? 'button-danger' : ''}`}
              disabled={running !== null}
              aria-busy={mine || undefined}
              onClick={() => props.onDecide(client, decision, decision === 'approve' ? lifetime : undefined)}
            >
              {mine ? runningLabel[decision] : buttonLabel[decision]}
            </button>
          );
        })}
      </div>
    </li>
  );
}

export function ClientList(props: { clients: ConnectClient[]; now: number; running: RunningDecision | null; onDecide: OnDecide }) {
  return (
    <ul className="clients" aria-label="Connect clients">
      {props.clients.map((client) => (
        <ClientRow key={client.clientProofKeyThumbprint} client={client} now={props.now} running={props.running} onDecide={props.onDecide} />
      ))}
    </ul>
  );
}

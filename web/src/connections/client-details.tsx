// One device's details (issue 17 items 7–8): owner-set name, where the relay saw it, times as
// absolute dates, sessions open, the full thumbprint and the exact CLI command, each with Copy.
import { useEffect, useId, useState } from 'react';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { absoluteTime } from '../lib/relative-time';
import { trpc, type ConnectClient } from '../trpc';
import { clientTitle } from './access-state';
import { ApproverToggle } from './approver-toggle';

function CopyButton({ text, what }: { text: string; what: string }) {
  const toasts = useToasts();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="button button-small button-quiet"
      aria-label={`Copy ${what}`}
      onClick={() => {
        navigator.clipboard.writeText(text).then(
          () => {
            setCopied(true);
            setTimeout(() => setCopied(false), 2000);
          },
          (error: unknown) => toasts.show('error', `Could not copy: ${error instanceof Error ? error.message : String(error)}`),
        );
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

function RenameForm({ client }: { client: ConnectClient }) {
  const toasts = useToasts();
  const rename = trpc.connect.clients.rename.useMutation();
  const [name, setName] = useState(client.name ?? '');
  const inputId = useId();
  useEffect(() => setName(client.name ?? ''), [client.name]);
  const save = async (next: string | null) => {
    try {
      const result = await rename.mutateAsync({ clientProofKeyThumbprint: client.clientProofKeyThumbprint, name: next });
      toasts.show('success', result.name ? `Renamed to ${result.name}.` : `Name cleared: shown as ${clientTitle(result)}.`);
    } catch (error) {
      toasts.show('error', `Could not rename ${clientTitle(client)}: ${describeError(error)}`);
    }
  };
  return (
    <form
      className="rename"
      onSubmit={(event) => {
        event.preventDefault();
        void save(name.trim() === '' ? null : name);
      }}
    >
      <label htmlFor={inputId}>Your name for it</label>
      <div className="rename-row">
        <input id={inputId} className="input" value={name} maxLength={80} placeholder={client.client.label ?? 'e.g. Kitchen iPad'} onChange={(e) => setName(e.target.value)} />
        <button type="submit" className="button button-small" aria-busy={rename.isPending || undefined}>
          Save name
        </button>
        {client.name && (
          <button type="button" className="button button-small button-quiet" onClick={() => void save(null)}>
            Clear name
          </button>
        )}
      </div>
    </form>
  );
}

export function ClientDetails({ client, revision }: { client: ConnectClient; revision: number }) {
  const details = trpc.connect.clients.details.useQuery({ clientProofKeyThumbprint: client.clientProofKeyThumbprint }, { retry: 0 });
  const { refetch } = details;
  useEffect(() => {
    void refetch();
  }, [revision, refetch]);
  // `--`: a thumbprint (base64url) may start with "-", which would read as an option.
  const command = `npx gatehouse connect security approve -- ${client.clientProofKeyThumbprint}`;
  const time = (at: string | null) => (at ? <time dateTime={at}>{absoluteTime(at)}</time> : '—');
  return (
    <div className="details">
      <RenameForm client={client} />
      <ApproverToggle client={client} />
      <dl className="details-grid">
        <div>
          <dt>Calls itself</dt>
          <dd>{client.client.label ? <bdi>{client.client.label}</bdi> : '—'}</dd>
        </div>
        <div>
          <dt>Address the relay saw</dt>
          <dd>{details.data ? (details.data.lastSource ?? 'not recorded') : details.isError ? describeError(details.error) : '…'}</dd>
        </div>
        <div>
          <dt>Client version</dt>
          <dd>{details.data ? details.data.software ? <bdi>{details.data.software}</bdi> : 'not reported' : '…'}</dd>
        </div>
        <div>
          <dt>Sessions open</dt>
          <dd>{details.data ? details.data.openSessions : '…'}</dd>
        </div>
        <div>
          <dt>First request</dt>
          <dd>{time(client.firstRequestedAt)}</dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd>{time(client.lastSeenAt)}</dd>
        </div>
        <div className="details-wide">
          <dt>Thumbprint</dt>
          <dd className="copy-line">
            <code className="mono-wrap">{client.clientProofKeyThumbprint}</code>
            <CopyButton text={client.clientProofKeyThumbprint} what="thumbprint" />
          </dd>
        </div>
        <div className="details-wide">
          <dt>Approve from a terminal</dt>
          <dd className="copy-line">
            <code className="mono-wrap">{command}</code>
            <CopyButton text={command} what="command" />
          </dd>
        </div>
      </dl>
    </div>
  );
}

// Devices that hold sessions now, in either mode (issue 17 item 6): in account mode they have no
// row in the list above, so without this they were invisible. The owner can end their sessions.
import { useEffect, useState } from 'react';
import { ConfirmDialog } from '../components/confirm-dialog';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import { trpc, type ConnectedDevice, type SecurityMode } from '../trpc';
import { clientTitle } from './access-state';

/** Sessions start without an access event in account mode: look again now and then. */
const REFRESH_MS = 15_000;

export const connectedTitle = (d: ConnectedDevice) => (d.client ? clientTitle(d.client) : `Device ${d.verificationCode}`);
const sessionsText = (n: number) => (n === 1 ? '1 session' : `${n} sessions`);

export function useConnectedDevices(revision: number) {
  const connected = trpc.connect.clients.connected.useQuery(undefined, { enabled: revision > 0, refetchInterval: REFRESH_MS, retry: 1 });
  const { refetch } = connected;
  useEffect(() => {
    if (revision > 1) void refetch();
  }, [revision, refetch]);
  return connected;
}

export function ConnectedDevices({ revision, now, mode }: { revision: number; now: number; mode: SecurityMode | null }) {
  const toasts = useToasts();
  const connected = useConnectedDevices(revision);
  const end = trpc.connect.clients.endSessions.useMutation();
  const [confirm, setConfirm] = useState<ConnectedDevice | null>(null);
  const devices = connected.data ?? [];

  const endSessions = async (device: ConnectedDevice) => {
    try {
      const result = await end.mutateAsync({ clientProofKeyThumbprint: device.clientProofKeyThumbprint });
      toasts.show('success', `Ended ${sessionsText(result.endedSessions)} of ${connectedTitle(device)}.`);
      setConfirm(null);
      await connected.refetch();
    } catch (error) {
      toasts.show('error', `Could not end the sessions of ${connectedTitle(device)}: ${describeError(error)}`);
      setConfirm(null);
    }
  };

  return (
    <section className="card" aria-labelledby="connected-heading">
      <div className="section-heading">
        <h2 id="connected-heading">Connected now</h2>
        <p className="muted">Devices holding a session right now, whatever the mode.</p>
      </div>
      {connected.isPending && revision > 0 && <p className="muted">Loading…</p>}
      {connected.isError && (
        <p className="inline-error" role="alert">
          Could not load connected devices: {describeError(connected.error)}
        </p>
      )}
      {connected.data && devices.length === 0 && <p className="muted">No device holds a session.</p>}
      {devices.length > 0 && (
        <ul className="connected" aria-label="Connected devices">
          {devices.map((d) => (
            <li key={d.clientProofKeyThumbprint} className="connected-row">
              <div>
                <strong>
                  <bdi>{connectedTitle(d)}</bdi>
                </strong>{' '}
                <code className="code">{d.verificationCode}</code>
                <p className="client-time">
                  {sessionsText(d.openSessions)} · last used{' '}
                  <time dateTime={d.lastUsedAt} title={absoluteTime(d.lastUsedAt)}>
                    {relativeTime(d.lastUsedAt, now)}
                  </time>
                  {d.client ? ` · ${d.client.status}` : ' · signed in with your account'}
                </p>
              </div>
              <button type="button" className="button button-small button-danger" aria-label={`End sessions of ${connectedTitle(d)}`} onClick={() => setConfirm(d)}>
                End sessions
              </button>
            </li>
          ))}
        </ul>
      )}
      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? `End the sessions of ${connectedTitle(confirm)}?` : ''}
        confirmLabel="End sessions"
        tone="danger"
        busy={end.isPending}
        onCancel={() => setConfirm(null)}
        onConfirm={() => confirm && void endSessions(confirm)}
      >
        {confirm && (
          <p>
            {sessionsText(confirm.openSessions)} end at once.{' '}
            {mode === 'account' ? 'Approval is off, so it can connect again; turn approval on to keep it out.' : 'It connects again only if it is approved.'}
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}

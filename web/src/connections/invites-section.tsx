// Invites on the settings page (SPEC §13): create one (label, lifetime ≤ 24 h), show its URL and QR
// code once, and list the open ones with Revoke. A device joining with an invite is an access event
// (its row turns approved), so the list is read again on every event while it shows open invites.
import QRCode from 'qrcode';
import { useEffect, useId, useRef, useState } from 'react';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { absoluteTime } from '../lib/relative-time';
import { useStepUp } from '../lib/step-up';
import { trpc } from '../trpc';

const LIFETIMES = [
  { label: '10 minutes', seconds: 600 },
  { label: '1 hour', seconds: 3600 },
  { label: '24 hours', seconds: 86_400 },
] as const;

function InviteCode({ url }: { url: string }) {
  const [dataUrl, setDataUrl] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void QRCode.toDataURL(url, { margin: 1, width: 220, errorCorrectionLevel: 'M' }).then((d) => live && setDataUrl(d));
    return () => {
      live = false;
    };
  }, [url]);
  return dataUrl ? <img src={dataUrl} width={220} height={220} alt="QR code of the invite link" /> : null;
}

/**
 * `revision`: the access events seen (`useAccessEvents`); the list loads once the stream has proved the
 * owner session (`revision > 0`, no refused request before). The 30 s refresh remains for what no
 * event tells (an invite created elsewhere, or one running out).
 */
export function InvitesSection({ revision }: { revision: number }) {
  const toasts = useToasts();
  const headingId = useId();
  const open = trpc.connect.invites.list.useQuery(undefined, { refetchInterval: 30_000, enabled: revision > 0 });
  const { refetch } = open;
  // Read at each event, not a dependency: the list emptying is no reason to ask again.
  const anyOpen = useRef(false);
  anyOpen.current = (open.data ?? []).length > 0;
  useEffect(() => {
    if (revision > 1 && anyOpen.current) void refetch();
  }, [revision, refetch]);
  const create = trpc.connect.invites.create.useMutation();
  const revoke = trpc.connect.invites.revoke.useMutation();
  const withStepUp = useStepUp();
  const busy = useRef(false);
  const [label, setLabel] = useState('');
  const [lifetime, setLifetime] = useState<number>(600);
  const [shown, setShown] = useState<{ url: string; label: string; expiresAt: string } | null>(null);

  const run = async (work: () => Promise<unknown>, failed: string) => {
    if (busy.current) return;
    busy.current = true;
    try {
      await work();
      void open.refetch();
    } catch (error) {
      toasts.show('error', `${failed}: ${describeError(error)}`);
    } finally {
      busy.current = false;
    }
  };
  const onCreate = () =>
    run(async () => {
      const invite = await withStepUp(() => create.mutateAsync({ ...(label.trim() && { label: label.trim() }), expiresInSeconds: lifetime }));
      setShown({ url: invite.url, label: label.trim(), expiresAt: invite.expiresAt });
      setLabel('');
    }, 'Could not create the invite');

  return (
    <section className="card" aria-labelledby={headingId}>
      <div className="section-heading">
        <h2 id={headingId}>Invites</h2>
        <p className="muted">An invite lets one device in without approving it here: open the link or scan the code on that device. It works once.</p>
      </div>
      <form
        className="invite-form"
        onSubmit={(e) => {
          e.preventDefault();
          void onCreate();
        }}
      >
        <label>
          Label <input className="input" value={label} maxLength={80} placeholder="for the kitchen" onChange={(e) => setLabel(e.target.value)} />
        </label>
        <label>
          Valid for{' '}
          <select className="select select-small" value={lifetime} onChange={(e) => setLifetime(Number(e.target.value))}>
            {LIFETIMES.map((l) => (
              <option key={l.seconds} value={l.seconds}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="button button-small button-primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create invite'}
        </button>
      </form>
      {shown && (
        <div className="invite-shown" role="group" aria-label="New invite">
          <InviteCode url={shown.url} />
          <p>
            {shown.label ? `Invite “${shown.label}”` : 'Invite'}, valid until {absoluteTime(shown.expiresAt)}. It is shown only now:
          </p>
          <p>
            <a href={shown.url} className="invite-link">
              {shown.url}
            </a>
          </p>
          <button type="button" className="button button-small" onClick={() => setShown(null)}>
            Done
          </button>
        </div>
      )}
      {(open.data ?? []).length > 0 && (
        <ul className="invites" aria-label="Open invites">
          {open.data!.map((i) => (
            <li key={i.inviteId}>
              <span>
                <bdi>{i.label ?? 'Invite'}</bdi> · until {absoluteTime(i.expiresAt)}
              </span>{' '}
              <button type="button" className="button button-small button-danger" disabled={revoke.isPending} onClick={() => void run(() => revoke.mutateAsync({ inviteId: i.inviteId }), 'Could not revoke the invite')}>
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

import { useId, useRef, useState } from 'react';
import { ConfirmDialog } from '../components/confirm-dialog';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { useStepUp } from '../lib/step-up';
import { trpc, type ConnectedDevice, type SecurityMode } from '../trpc';
import type { AccessAction, Counts, ModeState } from './access-state';
import { connectedTitle } from './connected-devices';

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** "3 waiting and 72 rejected devices will be able to connect" (issue 17 item 2). */
export function turnOffConsequence(counts: Counts): string {
  const parts = [counts.pending > 0 && `${counts.pending} waiting`, counts.rejected > 0 && `${counts.rejected} rejected`].filter(Boolean);
  if (parts.length === 0) return 'Any device signed in to your account will be able to connect without your approval.';
  const n = counts.pending + counts.rejected;
  return `${parts.join(' and ')} ${n === 1 ? 'device' : 'devices'} will be able to connect, and so will any new device signed in to your account.`;
}

const SWITCH_NAME = 'Require Connect client approval';

function describeMode(mode: ModeState, saving: boolean): string {
  if (mode.kind === 'unknown') return 'Checking the current setting…';
  if (mode.kind === 'unreadable') return mode.error;
  if (saving) return 'Saving…';
  return mode.mode === 'client-approval'
    ? 'Each new device must be approved here before it can connect. Check that the verification code matches the one on the device.'
    : 'Any device signed in to your account can connect. Turn this on to approve each new device yourself.';
}

export function ModeSetting({ mode, dispatch, counts, connected }: { mode: ModeState; dispatch: (action: AccessAction) => void; counts: Counts; connected: ConnectedDevice[] }) {
  const toasts = useToasts();
  const setMode = trpc.connect.securityMode.set.useMutation();
  const withStepUp = useStepUp();
  const approveConnected = trpc.connect.clients.approveConnected.useMutation();
  const [asking, setAsking] = useState<SecurityMode | null>(null);
  const [keep, setKeep] = useState<Set<string>>(() => new Set());
  const unapproved = connected.filter((d) => d.client?.status !== 'approved');
  const busy = useRef(false);
  const [saving, setSaving] = useState<SecurityMode | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const labelId = useId();
  const descriptionId = useId();

  const change = async (next: SecurityMode, approveFirst: string[] = []) => {
    if (busy.current) return;
    busy.current = true;
    setSaving(next);
    setFailure(null);
    try {
      // The devices the owner chose to keep are approved first, so the switch cuts off only the others.
      const kept = approveFirst.length > 0 ? (await withStepUp(() => approveConnected.mutateAsync({ clientProofKeyThumbprints: approveFirst }))).approved : 0;
      const result = await withStepUp(() => setMode.mutateAsync({ mode: next }));
      setAsking(null);
      dispatch({ type: 'modeSet', mode: result.mode });
      const ended = result.endedSessions > 0 ? ` Ended ${plural(result.endedSessions, 'session', 'sessions')} of devices that are not approved.` : ' No session was ended.';
      const approvedText = kept > 0 ? ` Approved ${plural(kept, 'connected device', 'connected devices')}.` : '';
      toasts.show('success', result.mode === 'client-approval' ? `Connect client approval is required.${approvedText}${ended}` : 'Connect uses account-wide access.');
    } catch (error) {
      const message = `Could not change the security mode: ${describeError(error)}`;
      setFailure(message);
      toasts.show('error', message);
      setAsking(null);
    } finally {
      busy.current = false;
      setSaving(null);
    }
  };

  /** Both directions ask first: off names who gets in, on shows who is cut off (issue 17 items 2–3). */
  const ask = (next: SecurityMode) => {
    setKeep(new Set());
    setAsking(next);
  };

  const on = mode.kind === 'known' && mode.mode === 'client-approval';
  return (
    <section className="card setting" aria-labelledby={labelId}>
      <div className="setting-row">
        <div className="setting-text">
          <h2 id={labelId} className="setting-title">
            {SWITCH_NAME}
          </h2>
          <p id={descriptionId} className={mode.kind === 'unreadable' ? 'setting-description danger-text' : 'setting-description'}>
            {describeMode(mode, saving !== null)}
          </p>
        </div>
        {mode.kind !== 'unreadable' && (
          <button
            type="button"
            role="switch"
            className={`switch switch-${mode.kind === 'unknown' ? 'unknown' : on ? 'on' : 'off'}`}
            aria-checked={on}
            aria-labelledby={labelId}
            aria-describedby={descriptionId}
            aria-busy={mode.kind === 'unknown' || saving !== null}
            disabled={mode.kind !== 'known' || saving !== null}
            onClick={() => ask(on ? 'account' : 'client-approval')}
          >
            <span className="switch-knob" aria-hidden="true" />
          </button>
        )}
      </div>
      {mode.kind === 'unreadable' && (
        <div className="recovery" role="group" aria-label="Restore the security mode">
          <button type="button" className="button" disabled={saving !== null} onClick={() => void change('account')}>
            {saving === 'account' ? 'Saving…' : 'Use account access'}
          </button>
          <button type="button" className="button button-primary" disabled={saving !== null} onClick={() => void change('client-approval')}>
            {saving === 'client-approval' ? 'Saving…' : 'Require approval'}
          </button>
        </div>
      )}
      {failure && (
        <p className="inline-error" role="alert">
          {failure}
        </p>
      )}
      <ConfirmDialog
        open={asking === 'account'}
        title="Turn off approval?"
        confirmLabel="Turn off approval"
        tone="danger"
        busy={saving !== null}
        onCancel={() => setAsking(null)}
        onConfirm={() => void change('account')}
      >
        <p>{turnOffConsequence(counts)}</p>
        <p className="muted">Your decisions are kept and apply again when you turn approval back on.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={asking === 'client-approval'}
        title="Require approval?"
        confirmLabel={keep.size > 0 ? `Approve ${keep.size} and require approval` : 'Require approval'}
        busy={saving !== null}
        onCancel={() => setAsking(null)}
        onConfirm={() => void change('client-approval', [...keep])}
      >
        {unapproved.length === 0 ? (
          <p>No unapproved device is connected now: nothing is cut off. New devices will wait for your approval.</p>
        ) : (
          <>
            <p>
              {plural(unapproved.length, 'device is', 'devices are')} connected now without approval. {unapproved.length === 1 ? 'Its sessions end' : 'Their sessions end'} unless you approve{' '}
              {unapproved.length === 1 ? 'it' : 'them'} here:
            </p>
            <ul className="preview" aria-label="Connected devices without approval">
              {unapproved.map((d) => (
                <li key={d.clientProofKeyThumbprint}>
                  <label>
                    <input
                      type="checkbox"
                      checked={keep.has(d.clientProofKeyThumbprint)}
                      onChange={(e) =>
                        setKeep((before) => {
                          const after = new Set(before);
                          if (e.target.checked) after.add(d.clientProofKeyThumbprint);
                          else after.delete(d.clientProofKeyThumbprint);
                          return after;
                        })
                      }
                    />{' '}
                    Approve <bdi>{connectedTitle(d)}</bdi> <code className="code">{d.verificationCode}</code> · {plural(d.openSessions, 'session', 'sessions')}
                  </label>
                </li>
              ))}
            </ul>
          </>
        )}
      </ConfirmDialog>
    </section>
  );
}

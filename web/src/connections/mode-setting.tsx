import { useId, useRef, useState } from 'react';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { useStepUp } from '../lib/step-up';
import { trpc, type SecurityMode } from '../trpc';
import type { AccessAction, ModeState } from './access-state';

const SWITCH_NAME = 'Require Connect client approval';

function describeMode(mode: ModeState, saving: boolean): string {
  if (mode.kind === 'unknown') return 'Checking the current setting…';
  if (mode.kind === 'unreadable') return mode.error;
  if (saving) return 'Saving…';
  return mode.mode === 'client-approval'
    ? 'Each new device must be approved here before it can connect. Check that the verification code matches the one on the device.'
    : 'Any device signed in to your account can connect. Turn this on to approve each new device yourself.';
}

export function ModeSetting({ mode, dispatch }: { mode: ModeState; dispatch: (action: AccessAction) => void }) {
  const toasts = useToasts();
  const setMode = trpc.connect.securityMode.set.useMutation();
  const withStepUp = useStepUp();
  const busy = useRef(false);
  const [saving, setSaving] = useState<SecurityMode | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const labelId = useId();
  const descriptionId = useId();

  const change = async (next: SecurityMode) => {
    if (busy.current) return;
    busy.current = true;
    setSaving(next);
    setFailure(null);
    try {
      const result = await withStepUp(() => setMode.mutateAsync({ mode: next }));
      dispatch({ type: 'modeSet', mode: result.mode });
      const ended = result.endedSessions > 0 ? ` Ended ${result.endedSessions} session${result.endedSessions === 1 ? '' : 's'} of devices that are not approved.` : '';
      toasts.show('success', result.mode === 'client-approval' ? `Connect client approval is required.${ended}` : 'Connect uses account-wide access.');
    } catch (error) {
      const message = `Could not change the security mode: ${describeError(error)}`;
      setFailure(message);
      toasts.show('error', message);
    } finally {
      busy.current = false;
      setSaving(null);
    }
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
            onClick={() => void change(on ? 'account' : 'client-approval')}
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
    </section>
  );
}

// Pause new devices (SPEC §13): a switch with a duration, and a banner offering it when the
// environment's new-client limiter trips (a flood of new keys).
import { useId, useRef, useState } from 'react';
import { LOCKDOWN_INDEFINITE } from '../../../shared/lockdown';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { absoluteTime } from '../lib/relative-time';
import { trpc } from '../trpc';

const SWITCH_NAME = 'Pause new devices';
const DURATIONS = [
  { label: 'For 15 minutes', ms: 15 * 60_000 },
  { label: 'For 1 hour', ms: 60 * 60_000 },
  { label: 'Until I turn it off', ms: null },
] as const;
/** A flood seen this recently still earns the offer. */
const FLOOD_OFFER_MS = 5 * 60_000;

/** `enabled`: only once the owner's session is known to be signed in (no refused request before). */
export function LockdownSetting({ now, enabled }: { now: number; enabled: boolean }) {
  const toasts = useToasts();
  // No access event carries the pause; a slow poll keeps a second tab and the flood offer current.
  const state = trpc.connect.lockdown.get.useQuery(undefined, { refetchInterval: 15_000, enabled });
  const set = trpc.connect.lockdown.set.useMutation();
  const busy = useRef(false);
  const [duration, setDuration] = useState(0);
  const [failure, setFailure] = useState<string | null>(null);
  const labelId = useId();
  const descriptionId = useId();

  const change = async (until: string | null) => {
    if (busy.current) return;
    busy.current = true;
    setFailure(null);
    try {
      const result = await set.mutateAsync({ until });
      void state.refetch();
      toasts.show('success', result.until === null ? 'New devices may ask to connect again.' : 'New devices are paused.');
    } catch (error) {
      const message = `Could not change the pause: ${describeError(error)}`;
      setFailure(message);
      toasts.show('error', message);
    } finally {
      busy.current = false;
    }
  };
  const pauseFor = (ms: number | null) => void change(ms === null ? LOCKDOWN_INDEFINITE : new Date(Date.now() + ms).toISOString());

  const data = state.data;
  const paused = data?.until != null;
  const flooded = !paused && data?.floodedAt != null && now - Date.parse(data.floodedAt) < FLOOD_OFFER_MS;
  const description = !data
    ? 'Checking…'
    : !paused
      ? 'New devices may ask to connect. Pause them during a flood of requests; approved devices keep working.'
      : data.indefinite
        ? 'New devices are turned away until you turn this off. Approved devices keep working.'
        : `New devices are turned away until ${absoluteTime(data.until!)}. Approved devices keep working.`;
  return (
    <>
      {flooded && (
        <div className="banner" role="status">
          <span>Many new devices are asking to connect right now, more than this environment lets in.</span>{' '}
          <button type="button" className="button button-small" disabled={set.isPending} onClick={() => pauseFor(15 * 60_000)}>
            Pause new devices for 15 minutes
          </button>
        </div>
      )}
      <section className="card setting" aria-labelledby={labelId}>
        <div className="setting-row">
          <div className="setting-text">
            <h2 id={labelId} className="setting-title">
              {SWITCH_NAME}
            </h2>
            <p id={descriptionId} className="setting-description">
              {description}
            </p>
          </div>
          {!paused && (
            <select className="select select-small" aria-label="Pause new devices for" value={duration} disabled={!data || set.isPending} onChange={(e) => setDuration(Number(e.target.value))}>
              {DURATIONS.map((d, i) => (
                <option key={d.label} value={i}>
                  {d.label}
                </option>
              ))}
            </select>
          )}
          <button
            type="button"
            role="switch"
            className={`switch switch-${!data ? 'unknown' : paused ? 'on' : 'off'}`}
            aria-checked={paused}
            aria-labelledby={labelId}
            aria-describedby={descriptionId}
            aria-busy={!data || set.isPending}
            disabled={!data || set.isPending}
            onClick={() => (paused ? void change(null) : pauseFor(DURATIONS[duration]!.ms))}
          >
            <span className="switch-knob" aria-hidden="true" />
          </button>
        </div>
        {failure && (
          <p className="inline-error" role="alert">
            {failure}
          </p>
        )}
      </section>
    </>
  );
}

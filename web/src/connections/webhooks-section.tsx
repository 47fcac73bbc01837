// Webhooks on the settings page (SPEC §14): add one (its secret is shown once), send a test, see
// the delivery log, remove. They reach the owner while no page is open.
import { useId, useState, type FormEvent } from 'react';
import { describeError } from '../lib/errors';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import { useStepUp } from '../lib/step-up';
import { trpc } from '../trpc';

const EVENTS = [
  ['client.pending', 'A device is waiting'],
  ['client.approved', 'Approved'],
  ['client.rejected', 'Rejected'],
  ['client.revoked', 'Revoked'],
  ['mode.changed', 'Security mode changed'],
  ['flood.detected', 'Many new devices at once'],
] as const;
type EventName = (typeof EVENTS)[number][0];
type Format = 'json' | 'slack' | 'discord';

function Deliveries({ webhookId, now }: { webhookId: string; now: number }) {
  const log = trpc.connect.webhooks.deliveries.useQuery({ webhookId }, { refetchInterval: 10_000 });
  if (log.isPending) return <p className="muted">Loading deliveries…</p>;
  if (log.isError) return <p className="inline-error" role="alert">Could not load deliveries: {describeError(log.error)}</p>;
  if (log.data.length === 0) return <p className="muted">No deliveries yet.</p>;
  return (
    <table className="audit" aria-label="Deliveries">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Event</th>
          <th scope="col">Status</th>
          <th scope="col">Answer</th>
        </tr>
      </thead>
      <tbody>
        {log.data.map((d) => (
          <tr key={d.id}>
            <td>
              <time dateTime={d.createdAt} title={absoluteTime(d.createdAt)}>
                {relativeTime(d.createdAt, now)}
              </time>
            </td>
            <td>{d.eventType}</td>
            <td>
              {d.status} ({d.attempts} {d.attempts === 1 ? 'attempt' : 'attempts'})
              {d.status === 'pending' && d.nextAttemptAt ? `, next ${relativeTime(d.nextAttemptAt, now)}` : ''}
            </td>
            <td>{d.lastStatusCode !== null ? `HTTP ${d.lastStatusCode}` : (d.lastError ?? '—')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function WebhooksSection({ enabled, now }: { enabled: boolean; now: number }) {
  const list = trpc.connect.webhooks.list.useQuery(undefined, { retry: 1, enabled });
  const create = trpc.connect.webhooks.create.useMutation();
  const withStepUp = useStepUp();
  const remove = trpc.connect.webhooks.remove.useMutation();
  const test = trpc.connect.webhooks.test.useMutation();
  const [url, setUrl] = useState('');
  const [format, setFormat] = useState<Format>('slack');
  const [events, setEvents] = useState<EventName[]>(['client.pending', 'flood.detected']);
  const [secret, setSecret] = useState<{ webhookId: string; secret: string } | null>(null);
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const ids = { url: useId(), format: useId(), heading: useId() };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    try {
      const created = await withStepUp(() => create.mutateAsync({ url, events, format }));
      setSecret({ webhookId: created.webhookId, secret: created.secret });
      setUrl('');
      await list.refetch();
    } catch (error) {
      setMessage({ error: true, text: `Could not add the webhook: ${describeError(error)}` });
    }
  };
  const runTest = async (webhookId: string) => {
    setMessage(null);
    try {
      const r = await test.mutateAsync({ webhookId });
      setMessage(r.delivered ? { error: false, text: `Test delivered (HTTP ${r.statusCode}).` } : { error: true, text: `Test not delivered: ${r.error ?? 'no answer'}.` });
    } catch (error) {
      setMessage({ error: true, text: `Could not send the test: ${describeError(error)}` });
    }
  };
  const runRemove = async (webhookId: string) => {
    setMessage(null);
    try {
      await remove.mutateAsync({ webhookId });
      if (secret?.webhookId === webhookId) setSecret(null);
      await list.refetch();
    } catch (error) {
      setMessage({ error: true, text: `Could not remove the webhook: ${describeError(error)}` });
    }
  };

  return (
    <section className="card" aria-labelledby={ids.heading}>
      <div className="section-heading">
        <h2 id={ids.heading}>Webhooks</h2>
        <p className="muted">
          Webhooks reach you even when this page is closed (browser notifications only work while it is open): a Slack or Discord message, or signed JSON to your own
          URL, when a device waits or a decision is made. Each message links to the device here; acting on it needs your owner sign-in.
        </p>
      </div>
      {secret && (
        <div className="banner" role="status">
          <p>
            Signing secret for {secret.webhookId}, shown only now (verify deliveries with it, per Standard Webhooks): <code>{secret.secret}</code>
          </p>
          <button type="button" className="button button-small" onClick={() => setSecret(null)}>
            I saved it
          </button>
        </div>
      )}
      {message && (
        <p className={message.error ? 'inline-error' : 'muted'} role={message.error ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      {list.isError && <p className="inline-error" role="alert">Could not load webhooks: {describeError(list.error)}</p>}
      {list.data && list.data.length === 0 && <p className="muted">No webhooks yet.</p>}
      {list.data && list.data.length > 0 && (
        <ul className="settings-list" aria-label="Webhooks">
          {list.data.map((w) => (
            <li key={w.webhookId}>
              <p>
                <strong>{w.format}</strong> <bdi>{w.url}</bdi>
              </p>
              <p className="muted">{w.events.join(', ')}</p>
              <button type="button" className="button button-small" onClick={() => void runTest(w.webhookId)} disabled={test.isPending}>
                Send test
              </button>{' '}
              <button type="button" className="button button-small button-quiet" aria-expanded={open === w.webhookId} onClick={() => setOpen(open === w.webhookId ? null : w.webhookId)}>
                Deliveries
              </button>{' '}
              <button type="button" className="button button-small button-quiet" onClick={() => void runRemove(w.webhookId)} disabled={remove.isPending}>
                Remove
              </button>
              {open === w.webhookId && <Deliveries webhookId={w.webhookId} now={now} />}
            </li>
          ))}
        </ul>
      )}
      <form className="webhook-form" onSubmit={(e) => void submit(e)} aria-label="Add a webhook">
        <label htmlFor={ids.url}>Webhook URL</label>
        <input id={ids.url} className="input webhook-url" type="url" required maxLength={2000} value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://hooks.slack.com/services/…" />
        <label htmlFor={ids.format}>Format</label>
        <select id={ids.format} className="select select-small" value={format} onChange={(e) => setFormat(e.target.value as Format)}>
          <option value="slack">Slack</option>
          <option value="discord">Discord</option>
          <option value="json">JSON</option>
        </select>
        <fieldset className="webhook-events">
          <legend>Events</legend>
          {EVENTS.map(([name, label]) => (
            <label key={name}>
              <input
                type="checkbox"
                checked={events.includes(name)}
                onChange={(e) => setEvents(e.target.checked ? [...events, name] : events.filter((x) => x !== name))}
              />{' '}
              {label}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="button button-small button-primary" disabled={create.isPending || events.length === 0}>
          {create.isPending ? 'Adding…' : 'Add webhook'}
        </button>
      </form>
    </section>
  );
}

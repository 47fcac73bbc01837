import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { auditActors } from '../../../shared/contracts';
import { describeError } from '../lib/errors';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import { trpc, type AuditEntry, type ConnectClient } from '../trpc';
import { clientTitle } from './access-state';
import { actorLabel, describeAuditEntry } from '../../../shared/audit-text';

const AUDIT_LIMIT = 25;
/** The device filter lists at most this many devices (thousands of <option>s would slow every render). */
const DEVICE_OPTIONS_MAX = 200;
/** Devices a "Find a device" search offers, asked of the server (the page holds one page of rows). */
const DEVICE_MATCHES = 20;

type Actor = (typeof auditActors)[number];

/**
 * The audit log, refreshed whenever an access event arrives (`revision` changes). It loads once the
 * event stream has proved the owner session (`revision > 0`), so a signed-out visit asks nothing.
 * Filters by device and actor; "Show older" pages back with `before` (issue 17 item 9).
 */
export function AuditSection({ clients, revision, now }: { clients: ConnectClient[]; revision: number; now: number }) {
  const [device, setDevice] = useState('');
  const [deviceSearch, setDeviceSearch] = useState('');
  const search = deviceSearch.trim();
  // At 10,000 devices the page holds only its first rows: any other device is found on the server.
  const matches = trpc.connect.clients.list.useQuery({ search, limit: DEVICE_MATCHES }, { enabled: search.length > 0, retry: 1, placeholderData: (previous) => previous });
  const [actor, setActor] = useState<Actor | ''>('');
  const filter = { ...(device && { clientProofKeyThumbprint: device }), ...(actor && { actor }) };
  const audit = trpc.connect.audit.list.useQuery({ limit: AUDIT_LIMIT, ...filter }, { retry: 1, enabled: revision > 0 });
  // (Not `trpc.useUtils()`: the env router's `client` namespace collides with a method of the utils.)
  const { refetch } = audit;
  const [older, setOlder] = useState<AuditEntry[]>([]);
  const [olderDone, setOlderDone] = useState(false);
  const [before, setBefore] = useState<number | null>(null);
  const olderQuery = trpc.connect.audit.list.useQuery({ limit: AUDIT_LIMIT, ...filter, before: before ?? 1 }, { enabled: before !== null, retry: 1 });
  const deviceId = useId();
  const deviceSearchId = useId();
  const actorId = useId();

  useEffect(() => {
    if (revision > 1) void refetch();
  }, [revision, refetch]);
  useEffect(() => {
    setOlder([]);
    setOlderDone(false);
    setBefore(null);
  }, [device, actor]);
  useEffect(() => {
    if (before === null || !olderQuery.data) return;
    const page = olderQuery.data;
    setOlder((all) => [...all, ...page.filter((p) => !all.some((e) => e.id === p.id))]);
    if (page.length < AUDIT_LIMIT) setOlderDone(true);
  }, [olderQuery.data, before]);

  // Names outlive rows: a revoked client is still named in the log entries about it.
  const names = useRef(new Map<string, string>());
  useMemo(() => {
    for (const c of [...clients, ...(matches.data?.items ?? [])]) names.current.set(c.clientProofKeyThumbprint, `${clientTitle(c)} (${c.verificationCode})`);
  }, [clients, matches.data]);
  const offered = search ? (matches.data?.items ?? []) : clients.slice(0, DEVICE_OPTIONS_MAX);
  // The chosen device stays listed while another search runs, so the select keeps showing it.
  const chosenHidden = device !== '' && !offered.some((c) => c.clientProofKeyThumbprint === device);
  const nameOf = (thumbprint: string | null) => (thumbprint ? (names.current.get(thumbprint) ?? `client ${thumbprint.slice(0, 8)}`) : null);

  const first = audit.data ?? [];
  const entries = [...first, ...older.filter((e) => !first.some((f) => f.id === e.id))];
  const oldest = entries[entries.length - 1];
  const mayHaveOlder = first.length === AUDIT_LIMIT && !olderDone;

  return (
    <section className="card" aria-labelledby="audit-heading">
      <div className="section-heading">
        <h2 id="audit-heading">Activity</h2>
        <p className="muted">Who changed what, and when.</p>
      </div>
      <div className="list-toolbar">
        <div className="search">
          <label htmlFor={deviceSearchId}>Find a device</label>
          <input
            id={deviceSearchId}
            type="search"
            className="input"
            value={deviceSearch}
            maxLength={100}
            placeholder="Name, code, OS or thumbprint"
            aria-describedby={search ? `${deviceSearchId}-found` : undefined}
            onChange={(e) => setDeviceSearch(e.target.value)}
          />
          {search && (
            <span id={`${deviceSearchId}-found`} className="muted" role="status">
              {matches.isError ? `Could not search: ${describeError(matches.error)}` : matches.data ? `${matches.data.items.length === DEVICE_MATCHES ? `First ${DEVICE_MATCHES}` : matches.data.items.length} matching` : 'Searching…'}
            </span>
          )}
        </div>
        <div className="search">
          <label htmlFor={deviceId}>Device</label>
          <select id={deviceId} className="input" value={device} onChange={(e) => setDevice(e.target.value)}>
            <option value="">All devices</option>
            {chosenHidden && <option value={device}>{nameOf(device)}</option>}
            {offered.map((c) => (
              <option key={c.clientProofKeyThumbprint} value={c.clientProofKeyThumbprint}>
                {clientTitle(c)} ({c.verificationCode})
              </option>
            ))}
          </select>
        </div>
        <div className="search">
          <label htmlFor={actorId}>Who</label>
          <select id={actorId} className="input" value={actor} onChange={(e) => setActor(e.target.value as Actor | '')}>
            <option value="">Anyone</option>
            {auditActors.map((a) => (
              <option key={a} value={a}>
                {actorLabel[a]}
              </option>
            ))}
          </select>
        </div>
      </div>
      {audit.isPending && <p className="muted">Loading activity…</p>}
      {audit.isError && (
        <p className="inline-error" role="alert">
          Could not load the activity log: {describeError(audit.error)}
        </p>
      )}
      {audit.data && entries.length === 0 && <p className="muted">{device || actor ? 'Nothing matches these filters.' : 'Nothing has happened yet.'}</p>}
      {entries.length > 0 && (
        <table className="audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.id}>
                <td>
                  <time dateTime={entry.at} title={absoluteTime(entry.at)}>
                    {relativeTime(entry.at, now)}
                  </time>
                </td>
                <td>{actorLabel[entry.actor]}</td>
                <td>{describeAuditEntry(entry, nameOf(entry.clientProofKeyThumbprint))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {mayHaveOlder && oldest && (
        <div className="show-more">
          <button type="button" className="button button-small" aria-busy={olderQuery.isFetching || undefined} onClick={() => setBefore(oldest.id)}>
            Show older
          </button>
        </div>
      )}
      {olderQuery.isError && (
        <p className="inline-error" role="alert">
          Could not load older activity: {describeError(olderQuery.error)}
        </p>
      )}
    </section>
  );
}

import { useEffect, useRef } from 'react';
import { describeError } from '../lib/errors';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import { trpc, type ConnectClient } from '../trpc';
import { clientTitle } from './access-state';
import { actorLabel, describeAuditEntry } from '../../../shared/audit-text';

const AUDIT_LIMIT = 25;

/**
 * The audit log, refreshed whenever an access event arrives (`revision` changes). It loads once the
 * event stream has proved the owner session (`revision > 0`), so a signed-out visit asks nothing.
 */
export function AuditSection({ clients, revision, now }: { clients: ConnectClient[]; revision: number; now: number }) {
  const audit = trpc.connect.audit.list.useQuery({ limit: AUDIT_LIMIT }, { retry: 1, enabled: revision > 0 });
  // (Not `trpc.useUtils()`: the env router's `client` namespace collides with a method of the utils.)
  const { refetch } = audit;

  useEffect(() => {
    if (revision > 1) void refetch();
  }, [revision, refetch]);

  // Names outlive rows: a revoked client is still named in the log entries about it.
  const names = useRef(new Map<string, string>());
  for (const c of clients) names.current.set(c.clientProofKeyThumbprint, `${clientTitle(c)} (${c.verificationCode})`);
  const nameOf = (thumbprint: string | null) => (thumbprint ? (names.current.get(thumbprint) ?? `client ${thumbprint.slice(0, 8)}`) : null);

  return (
    <section className="card" aria-labelledby="audit-heading">
      <div className="section-heading">
        <h2 id="audit-heading">Activity</h2>
        <p className="muted">Who changed what, and when.</p>
      </div>
      {audit.isPending && <p className="muted">Loading activity…</p>}
      {audit.isError && (
        <p className="inline-error" role="alert">
          Could not load the activity log: {describeError(audit.error)}
        </p>
      )}
      {audit.data && audit.data.length === 0 && <p className="muted">Nothing has happened yet.</p>}
      {audit.data && audit.data.length > 0 && (
        <table className="audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody>
            {audit.data.map((entry) => (
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
    </section>
  );
}

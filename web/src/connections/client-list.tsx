// The device list (issue 17 items 1, 4, 5, 7, 8, 11): a stable order, search and status filters with
// counts (both applied by the server: the page holds only the rows it loaded, PAGE_SIZE at a time),
// bulk decisions, and a confirmation before anything that cuts a device off. Buttons stay focusable while a decision runs (aria-disabled, never `disabled`), and
// focus stays on the row afterwards.
import { useId, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { ConfirmDialog } from '../components/confirm-dialog';
import { ApprovalLifetimeNote, ApproveLifetimeSelect, type ApprovalLifetime } from './approve-lifetime';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import type { ConnectClient } from '../trpc';
import { clientTitle, type Counts, type ListQuery, type StatusFilter } from './access-state';
import { ClientDetails } from './client-details';
import { PAGE_SIZE } from './use-access-events';
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

export type { StatusFilter };

function lastEvent(client: ConnectClient): { text: string; at: string } {
  if (client.status === 'pending') return { text: 'Requested', at: client.requestedAt };
  if (client.status === 'rejected') return { text: 'Rejected', at: client.rejectedAt ?? client.updatedAt };
  if (client.lastSeenAt) return { text: 'Last connected', at: client.lastSeenAt };
  return { text: 'Approved', at: client.approvedAt ?? client.updatedAt };
}

interface RowProps {
  client: ConnectClient;
  now: number;
  running: RunningDecision | null;
  /** Account mode: decisions are kept but not in force, so they are shown as inactive. */
  inactive: boolean;
  selected: boolean;
  expanded: boolean;
  revision: number;
  onSelect(selected: boolean): void;
  onToggleDetails(): void;
  /** `expiresInSeconds`: approve for a time (SPEC §13); absent: until revoked. */
  onDecide(decision: Decision, expiresInSeconds?: number): void;
}

function ClientRow({ client, now, running, inactive, selected, expanded, revision, onSelect, onToggleDetails, onDecide }: RowProps) {
  const titleId = useId();
  const detailsId = useId();
  const [lifetime, setLifetime] = useState<ApprovalLifetime>(undefined);
  const when = lastEvent(client);
  const title = clientTitle(client);
  const asked = client.status === 'pending' && client.requestCount > 1 ? ` · asked ${client.requestCount} times` : '';
  return (
    <li id={`client-${client.clientProofKeyThumbprint}`} className={`client client-${client.status}${inactive ? ' client-inactive' : ''}`} aria-labelledby={titleId} data-thumbprint={client.clientProofKeyThumbprint} tabIndex={-1}>
      <label className="client-select">
        <input type="checkbox" checked={selected} onChange={(e) => onSelect(e.target.checked)} aria-label={`Select ${title}`} />
      </label>
      <div className="client-main">
        <div className="client-heading">
          <h3 id={titleId} className="client-title">
            <bdi>{title}</bdi>
          </h3>
          <span className={`status-pill status-pill-${client.status}${inactive ? ' status-pill-inactive' : ''}`}>
            {statusLabel[client.status]}
            {inactive ? ' (not in force)' : ''}
          </span>
        </div>
        {client.name && client.client.label && client.client.label !== client.name && (
          <p className="calls-itself">
            calls itself “<bdi>{client.client.label}</bdi>”
          </p>
        )}
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
              {deviceTypeLabel[client.client.deviceType]}
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
        <ApprovalLifetimeNote client={client} now={now} disabled={running !== null} onApproveAgain={() => onDecide('approve', lifetime)} />
      </div>
      <div className="client-actions">
        {!inactive && decisionsFor[client.status].includes('approve') && <ApproveLifetimeSelect title={title} value={lifetime} disabled={running !== null} onChange={setLifetime} />}
        {!inactive &&
          decisionsFor[client.status].map((decision) => {
            const mine = running?.clientProofKeyThumbprint === client.clientProofKeyThumbprint && running.decision === decision;
            return (
              <button
                key={decision}
                type="button"
                className={`button button-small ${decision === 'approve' ? 'button-primary' : decision === 'revoke' ? 'button-danger' : ''}`}
                aria-disabled={running !== null || undefined}
                aria-busy={mine || undefined}
                aria-label={mine ? `${runningLabel[decision]} ${title}` : `${buttonLabel[decision]} ${title}`}
                data-decision={decision}
                onClick={() => running === null && onDecide(decision, decision === 'approve' ? lifetime : undefined)}
              >
                {mine ? runningLabel[decision] : buttonLabel[decision]}
              </button>
            );
          })}
        {inactive && (
          <button type="button" className="button button-small button-danger" aria-label={`Revoke ${title}`} data-decision="revoke" aria-disabled={running !== null || undefined} onClick={() => running === null && onDecide('revoke')}>
            Revoke
          </button>
        )}
        <button type="button" className="button button-small button-quiet" aria-expanded={expanded} aria-controls={detailsId} aria-label={`Details of ${title}`} onClick={onToggleDetails}>
          Details
        </button>
      </div>
      {expanded && (
        <div id={detailsId} className="client-details">
          <ClientDetails client={client} revision={revision} />
        </div>
      )}
    </li>
  );
}

interface Pending {
  clients: ConnectClient[];
  decision: Decision;
  /** "Reject all pending": how many the server counts, loaded here or not. */
  allPending?: number;
}

const devicesText = (n: number) => (n === 1 ? '1 device' : `${n} devices`);

export interface ClientListProps {
  rows: ConnectClient[];
  query: ListQuery;
  /** Counts that follow the search, from the server (null until its first answer). */
  matching: Counts | null;
  /** Pending devices of the whole environment. */
  pendingTotal: number;
  hasMore: boolean;
  loading: 'first' | 'more' | 'reload' | null;
  error: string | null;
  now: number;
  running: RunningDecision | null;
  inactive: boolean;
  revision: number;
  onQuery(query: ListQuery): void;
  onShowMore(): void;
  onDecide(client: ConnectClient, decision: Decision, expiresInSeconds?: number): Promise<void>;
  onDecideMany(clients: ConnectClient[], decision: Decision): Promise<void>;
  onRejectAllPending(expected: number): Promise<void>;
}

export function ClientList({ rows, query, matching, pendingTotal, hasMore, loading, error, now, running, inactive, revision, onQuery, onShowMore, onDecide, onDecideMany, onRejectAllPending }: ClientListProps) {
  // The box shows what is typed at once; the server gets it after a short pause.
  const [search, setSearch] = useState(query.search);
  const status = query.status;
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const [expanded, setExpanded] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<Pending | null>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const searchId = useId();

  const visible = rows;
  const byThumbprint = useMemo(() => new Map(rows.map((c) => [c.clientProofKeyThumbprint, c])), [rows]);
  const selectedClients = [...selected].map((t) => byThumbprint.get(t)).filter((c): c is ConnectClient => c !== undefined);
  const allVisibleSelected = visible.length > 0 && visible.every((c) => selected.has(c.clientProofKeyThumbprint));
  const all = matching ? matching.pending + matching.approved + matching.rejected : null;
  const total = matching ? (status === 'all' ? all! : matching[status]) : null;

  /**
   * After a decision: the same row's button if it is still there, else the row now in its place.
   * Kept for a moment: the stream's copy of the change may re-render (and move) the row later,
   * and a moved node loses focus; each render then puts it back unless the owner moved on.
   */
  const focusWant = useRef<{ thumbprint: string; index: number; decision: Decision; until: number } | null>(null);
  const applyFocus = () => {
    const want = focusWant.current;
    const list = listRef.current;
    if (!want || !list) return;
    if (performance.now() > want.until) {
      focusWant.current = null;
      return;
    }
    const active = document.activeElement;
    if (active && active !== document.body && !list.contains(active)) return; // the owner went elsewhere
    const row = list.querySelector<HTMLElement>(`li[data-thumbprint="${CSS.escape(want.thumbprint)}"]`);
    if (row) {
      if (active && row.contains(active) && active !== row) return;
      (row.querySelector<HTMLElement>(`button[data-decision="${want.decision}"]`) ?? row.querySelector<HTMLElement>('button[data-decision]') ?? row).focus();
      return;
    }
    const rows = list.querySelectorAll<HTMLElement>('li[data-thumbprint]');
    const next = rows[Math.min(want.index, rows.length - 1)] ?? list;
    if (active !== next) next.focus();
  };
  useLayoutEffect(applyFocus);
  const keepFocus = (thumbprint: string, index: number, decision: Decision) => {
    focusWant.current = { thumbprint, index, decision, until: performance.now() + 2000 };
    applyFocus();
  };

  const run = async (targets: ConnectClient[], decision: Decision, expiresInSeconds?: number, allPending?: number) => {
    if (allPending !== undefined) {
      await onRejectAllPending(allPending);
      setSelected(new Set());
      return;
    }
    if (targets.length === 1) {
      const [client] = targets as [ConnectClient];
      const index = visible.findIndex((c) => c.clientProofKeyThumbprint === client.clientProofKeyThumbprint);
      await onDecide(client, decision, expiresInSeconds);
      keepFocus(client.clientProofKeyThumbprint, Math.max(index, 0), decision);
    } else {
      await onDecideMany(targets, decision);
    }
    setSelected((before) => {
      const after = new Set(before);
      for (const t of targets) after.delete(t.clientProofKeyThumbprint);
      return after;
    });
  };

  /** Reject and Revoke cut a device off at once: they ask first. Approve does not. */
  const ask = (targets: ConnectClient[], decision: Decision, expiresInSeconds?: number) => {
    if (targets.length === 0) return;
    if (decision === 'approve' && targets.length === 1) void run(targets, decision, expiresInSeconds);
    else setConfirm({ clients: targets, decision });
  };

  const filters: Array<{ key: StatusFilter; label: string; count: number | null }> = [
    { key: 'all', label: 'All', count: all },
    { key: 'pending', label: 'Pending', count: matching?.pending ?? null },
    { key: 'approved', label: 'Approved', count: matching?.approved ?? null },
    { key: 'rejected', label: 'Rejected', count: matching?.rejected ?? null },
  ];

  return (
    <>
      <div className="list-toolbar">
        <div className="search">
          <label htmlFor={searchId}>Search devices</label>
          <input
            id={searchId}
            type="search"
            className="input"
            placeholder="Name, code, OS or thumbprint"
            value={search}
            onChange={(e) => {
              setSearch(e.target.value);
              onQuery({ search: e.target.value, status });
            }}
          />
        </div>
        <div className="filters" role="group" aria-label="Show devices">
          {filters.map((f) => (
            <button key={f.key} type="button" className="chip" aria-pressed={status === f.key} onClick={() => status !== f.key && onQuery({ search, status: f.key })}>
              {f.label} <span className="chip-count">{f.count ?? '…'}</span>
            </button>
          ))}
        </div>
      </div>
      <div className="bulk-bar" role="group" aria-label="Selected devices">
        <label className="bulk-all">
          <input
            type="checkbox"
            checked={allVisibleSelected}
            onChange={(e) =>
              setSelected((before) => {
                const after = new Set(before);
                for (const c of visible) (e.target.checked ? after.add(c.clientProofKeyThumbprint) : after.delete(c.clientProofKeyThumbprint));
                return after;
              })
            }
          />
          Select all shown
        </label>
        <span className="muted">{selectedClients.length} selected</span>
        {!inactive && (
          <>
            <button type="button" className="button button-small button-primary" aria-disabled={selectedClients.length === 0 || running !== null || undefined} onClick={() => selectedClients.length && ask(selectedClients.filter((c) => c.status !== 'approved'), 'approve')}>
              Approve selected
            </button>
            <button type="button" className="button button-small" aria-disabled={selectedClients.length === 0 || running !== null || undefined} onClick={() => selectedClients.length && ask(selectedClients.filter((c) => c.status === 'pending'), 'reject')}>
              Reject selected
            </button>
          </>
        )}
        <button type="button" className="button button-small button-danger" aria-disabled={selectedClients.length === 0 || running !== null || undefined} onClick={() => selectedClients.length && ask(selectedClients, 'revoke')}>
          Revoke selected
        </button>
        {!inactive && pendingTotal > 0 && (
          <button type="button" className="button button-small" aria-disabled={running !== null || undefined} onClick={() => running === null && setConfirm({ clients: [], decision: 'reject', allPending: pendingTotal })}>
            Reject all pending ({pendingTotal})
          </button>
        )}
      </div>
      {inactive && (
        <p className="note">
          Approval is off: any device signed in to your account can connect. These decisions are kept and take effect again when you turn approval on.
        </p>
      )}
      {error && (
        <p className="inline-error" role="alert">
          Could not load devices: {error}
        </p>
      )}
      {rows.length === 0 ? (
        <p className="muted empty" aria-live="polite">
          {loading ? 'Loading devices…' : 'No devices match.'}
        </p>
      ) : (
        <ul className="clients" aria-label="Connect clients" ref={listRef} tabIndex={-1} aria-busy={loading === 'first' || loading === 'reload' || undefined}>
          {visible.map((client) => (
            <ClientRow
              key={client.clientProofKeyThumbprint}
              client={client}
              now={now}
              running={running}
              inactive={inactive}
              revision={revision}
              selected={selected.has(client.clientProofKeyThumbprint)}
              expanded={expanded === client.clientProofKeyThumbprint}
              onSelect={(on) =>
                setSelected((before) => {
                  const after = new Set(before);
                  if (on) after.add(client.clientProofKeyThumbprint);
                  else after.delete(client.clientProofKeyThumbprint);
                  return after;
                })
              }
              onToggleDetails={() => setExpanded((e) => (e === client.clientProofKeyThumbprint ? null : client.clientProofKeyThumbprint))}
              onDecide={(decision, expiresInSeconds) => ask([client], decision, expiresInSeconds)}
            />
          ))}
        </ul>
      )}
      {hasMore && rows.length > 0 && (
        <div className="show-more">
          <span className="muted">
            Showing {visible.length}
            {total !== null && total >= visible.length ? ` of ${total}` : ''}
          </span>
          <button type="button" className="button button-small" aria-disabled={loading === 'more' || undefined} onClick={() => loading !== 'more' && onShowMore()}>
            {loading === 'more' ? 'Loading…' : `Show ${total !== null ? Math.max(1, Math.min(PAGE_SIZE, total - visible.length)) : PAGE_SIZE} more`}
          </button>
        </div>
      )}
      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? confirmTitle(confirm) : ''}
        confirmLabel={confirm ? `${buttonLabel[confirm.decision]} ${confirm.allPending !== undefined ? devicesText(confirm.allPending) : confirm.clients.length === 1 ? clientTitle(confirm.clients[0]!) : devicesText(confirm.clients.length)}` : ''}
        tone={confirm?.decision === 'approve' ? 'primary' : 'danger'}
        onCancel={() => setConfirm(null)}
        onConfirm={() => {
          const chosen = confirm;
          setConfirm(null);
          if (chosen) void run(chosen.clients, chosen.decision, undefined, chosen.allPending);
        }}
      >
        {confirm && <p>{confirmBody(confirm)}</p>}
      </ConfirmDialog>
    </>
  );
}

function confirmTitle({ clients, decision, allPending }: Pending): string {
  if (allPending !== undefined) return `Reject ${devicesText(allPending)}?`;
  const what = clients.length === 1 ? clientTitle(clients[0]!) : devicesText(clients.length);
  return `${buttonLabel[decision]} ${what}?`;
}

function confirmBody({ clients, decision, allPending }: Pending): string {
  if (allPending !== undefined) {
    return `Every device waiting now is refused, including those not loaded on this page, and any open sessions end at once. You can approve ${allPending === 1 ? 'it' : 'them'} later.`;
  }
  const one = clients.length === 1;
  if (decision === 'approve') return `${one ? 'It' : 'They'} will be able to connect. Check that each code matches the code on the device.`;
  if (decision === 'reject') return `${one ? 'It is' : 'They are'} refused and any open sessions end at once. You can approve ${one ? 'it' : 'them'} later.`;
  return `${one ? 'Its' : 'Their'} decision is removed and any open sessions end at once; ${one ? 'it' : 'each'} has to ask again.`;
}

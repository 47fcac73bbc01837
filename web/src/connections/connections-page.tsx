import { useEffect, useState } from 'react';
import { useToasts } from '../components/toasts';
import { AppShell } from '../components/app-shell';
import { useNow } from '../lib/use-now';
import type { OwnerClient } from '../trpc';
import { pendingCount, type Counts } from './access-state';
import { AuditSection } from './audit-section';
import { ClientList } from './client-list';
import { LockdownSetting } from './lockdown-setting';
import { InvitesSection } from './invites-section';
import { ConnectedDevices, useConnectedDevices } from './connected-devices';
import { ModeSetting } from './mode-setting';
import { useAccessEvents, type LiveStatus } from './use-access-events';
import { useBrowserNotifications } from './use-browser-notifications';
import { useDecisions } from './use-decisions';
import { WebhooksSection } from './webhooks-section';
import { PasskeySignIn, PasskeysSection } from './passkeys-section';

function LiveIndicator({ live }: { live: LiveStatus }) {
  const text = live.kind === 'live' ? 'Live' : live.kind === 'connecting' ? 'Connecting…' : live.kind === 'reconnecting' ? 'Reconnecting…' : 'Signed out';
  return (
    <span className={`live live-${live.kind}`} role="status" title={live.kind === 'reconnecting' && live.message ? live.message : undefined}>
      <span className="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** Ends this browser's owner session on the server (S63), then shows the signed-out page. */
function SignOutButton() {
  const toasts = useToasts();
  const [busy, setBusy] = useState(false);
  const signOut = async () => {
    setBusy(true);
    try {
      const res = await fetch('/logout', { method: 'POST', credentials: 'same-origin' });
      if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`);
      window.location.reload();
    } catch (error) {
      toasts.show('error', `Could not sign out: ${error instanceof Error ? error.message : String(error)}`);
      setBusy(false);
    }
  };
  return (
    <button type="button" className="button button-small button-quiet" onClick={() => void signOut()} disabled={busy}>
      {busy ? 'Signing out…' : 'Sign out'}
    </button>
  );
}

function SignedOut() {
  return (
    <section className="card empty-state">
      <h2>Sign in as the owner</h2>
      <p>
        This page needs the owner session of this environment. Open the one-time login link that <code>npx gatehouse start</code> printed, or get a new one with{' '}
        <code>npx gatehouse owner login-url</code>.
      </p>
      <PasskeySignIn />
    </section>
  );
}

const NO_COUNTS: Counts = { pending: 0, approved: 0, rejected: 0 };

export function ConnectionsPage({ client }: { client: OwnerClient }) {
  const notifications = useBrowserNotifications();
  const { state, live, dispatch, revision, setQuery, showMore } = useAccessEvents(client, notifications.announce);
  const { decide, decideMany, rejectAllPending, running, failure, clearFailure } = useDecisions(dispatch);
  const now = useNow();
  const pending = pendingCount(state);
  // From the server: right however few rows are loaded ("3 waiting and 72 rejected devices…").
  const counts = state.totals ?? NO_COUNTS;
  const { list } = state;
  const connected = useConnectedDevices(revision);
  const mode = state.mode.kind === 'known' ? state.mode.mode : null;

  useEffect(() => {
    document.title = pending > 0 ? `(${pending}) Connections · Gatehouse` : 'Connections · Gatehouse';
  }, [pending]);

  return (
    <AppShell page="connections" pendingCount={pending}>
      <div className="page-heading">
        <div>
          <p className="eyebrow">Settings</p>
          <h1>Connections</h1>
        </div>
        <div className="page-heading-actions">
          <LiveIndicator live={live} />
          {live.kind !== 'signed-out' && <SignOutButton />}
        </div>
      </div>
      {live.kind === 'signed-out' ? (
        <SignedOut />
      ) : (
        <>
          {live.kind === 'reconnecting' && (
            <p className="banner" title={live.message ?? undefined}>
              Live updates paused: the connection to the environment dropped. Reconnecting…
            </p>
          )}
          <ModeSetting mode={state.mode} dispatch={dispatch} counts={counts} connected={connected.data ?? []} />
          <LockdownSetting now={now} enabled={revision > 0} />
          <section className="card" aria-labelledby="clients-heading">
            <div className="section-heading section-heading-row">
              <div>
                <h2 id="clients-heading">
                  Devices{' '}
                  {pending > 0 && <span className="count-pill">{pending} pending</span>}
                </h2>
                <p className="muted">Devices that asked to connect, waiting ones first in the order they asked. Approve one only if its code matches the code on the device.</p>
              </div>
              {notifications.choice !== 'unsupported' && (
                <button
                  type="button"
                  className="button button-small button-quiet"
                  aria-pressed={notifications.choice === 'on'}
                  disabled={notifications.choice === 'blocked'}
                  title={notifications.choice === 'blocked' ? 'Notifications are blocked for this site in your browser settings.' : undefined}
                  onClick={() => void notifications.toggle()}
                >
                  {notifications.choice === 'on' ? 'Notifications on' : notifications.choice === 'blocked' ? 'Notifications blocked' : 'Notify me of new devices'}
                </button>
              )}
            </div>
            {failure && (
              <div className="inline-error" role="alert">
                <span>{failure}</span>
                <button type="button" className="link-button" onClick={clearFailure}>
                  Dismiss
                </button>
              </div>
            )}
            {state.mode.kind === 'unknown' || !list.loaded ? (
              list.error ? (
                <p className="inline-error" role="alert">
                  Could not load devices: {list.error}
                </p>
              ) : (
                <p className="muted">Loading devices…</p>
              )
            ) : state.totals !== null && state.totals.pending + state.totals.approved + state.totals.rejected === 0 && list.rows.length === 0 ? (
              <p className="muted empty">
                {mode === 'account'
                  ? 'No device has asked for approval: with approval off, devices signed in to your account connect without asking (see Connected now below).'
                  : 'No devices yet.'}{' '}
                Open <a href="/device">/device</a> on a phone or another browser, or run <code>npx gatehouse client connect</code>.
              </p>
            ) : (
              <ClientList
                rows={list.rows}
                query={list.query}
                matching={list.matching}
                pendingTotal={pending}
                hasMore={list.nextCursor !== null}
                loading={list.loading}
                error={list.error}
                now={now}
                running={running}
                inactive={mode === 'account'}
                revision={revision}
                onQuery={setQuery}
                onShowMore={showMore}
                onDecide={decide}
                onDecideMany={decideMany}
                onRejectAllPending={rejectAllPending}
              />
            )}
          </section>
          <ConnectedDevices revision={revision} now={now} mode={mode} />
          <InvitesSection revision={revision} />
          <PasskeysSection enabled={revision > 0} now={now} />
          <WebhooksSection enabled={revision > 0} now={now} />
          <AuditSection clients={list.rows} revision={revision} now={now} />
        </>
      )}
    </AppShell>
  );
}

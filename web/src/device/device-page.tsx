import { ApproverPanel } from './approver-panel';
import { RotateKeyButton, RotationNotice } from './rotate-key';
import { useEffect } from 'react';
import { AppShell } from '../components/app-shell';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import { useNow } from '../lib/use-now';
import type { SignedInAccount } from './account-sign-in';
import { useDeviceConnection, type DeviceContext, type DevicePhase } from './use-device-connection';

const deviceTypeName: Record<string, string> = { desktop: 'Desktop', mobile: 'Mobile', tablet: 'Tablet', bot: 'Bot', unknown: 'Unknown device' };

function Status({ phase, now }: { phase: DevicePhase; now: number }) {
  switch (phase.kind) {
    case 'loading':
      return <h2 className="device-state">Preparing this device…</h2>;
    case 'unavailable':
      return (
        <>
          <h2 className="device-state state-bad">This device cannot connect</h2>
          <p>{phase.message}</p>
        </>
      );
    case 'ready':
      return (
        <>
          <h2 className="device-state">Not connected</h2>
          <p className="muted">Connect to ask the owner of this environment to let this browser in.</p>
        </>
      );
    case 'signing-in':
      return <h2 className="device-state state-busy">Signing in with your account…</h2>;
    case 'sign-in-failed':
      return (
        <>
          <h2 className="device-state state-bad">Sign-in refused</h2>
          <p>{phase.message}</p>
        </>
      );
    case 'asking':
      return <h2 className="device-state state-busy">Asking the environment…</h2>;
    case 'waiting':
      return (
        <>
          <h2 className="device-state state-wait">Waiting for approval…</h2>
          <p>
            Approve this device in Settings → Connections on the environment, and check that it shows the same code. Requested{' '}
            <time dateTime={phase.requestedAt} title={absoluteTime(phase.requestedAt)}>
              {relativeTime(phase.requestedAt, now)}
            </time>
            .
          </p>
        </>
      );
    case 'connected': {
      const { whoami } = phase;
      return (
        <>
          <h2 className="device-state state-good">Connected</h2>
          <dl className="facts">
            <div>
              <dt>Environment</dt>
              <dd>
                <code>{whoami.environmentId}</code>
              </dd>
            </div>
            <div>
              <dt>Client key</dt>
              <dd>
                <code className="wrap">{whoami.clientProofKeyThumbprint}</code>
              </dd>
            </div>
            <div>
              <dt>Scopes</dt>
              <dd>{whoami.scopes.join(', ')}</dd>
            </div>
            <div>
              <dt>Session ends</dt>
              <dd>{new Date(whoami.expiresAt).toLocaleString()}</dd>
            </div>
          </dl>
          <ApproverPanel session={phase.session} signer={phase.signer} />
        </>
      );
    }
    case 'rejected':
      return (
        <>
          <h2 className="device-state state-bad">Not approved</h2>
          <p>{phase.detail}</p>
        </>
      );
    case 'revoked':
      return (
        <>
          <h2 className="device-state state-bad">Access revoked</h2>
          <p>The owner revoked this device’s access. It has to be approved again before it can connect.</p>
        </>
      );
    case 'expired':
      return (
        <>
          <h2 className="device-state">Session expired</h2>
          <p>Connect again to continue.</p>
        </>
      );
    case 'failed':
      return (
        <>
          <h2 className="device-state state-bad">Could not connect</h2>
          <p>{phase.message}</p>
        </>
      );
  }
}

function Actions({ phase, connect, disconnect }: { phase: DevicePhase; connect: () => void; disconnect: () => void }) {
  switch (phase.kind) {
    case 'ready':
      return (
        <button type="button" className="button button-primary" onClick={connect}>
          Connect
        </button>
      );
    case 'signing-in':
    case 'asking':
    case 'waiting':
      return (
        <button type="button" className="button" onClick={disconnect}>
          Cancel
        </button>
      );
    case 'connected':
      return (
        <>
          <button type="button" className="button" onClick={disconnect}>
            Disconnect
          </button>
          <RotateKeyButton session={phase.session} signer={phase.signer} environmentId={phase.whoami.environmentId} onStart={disconnect} />
        </>
      );
    case 'rejected':
    case 'failed':
    case 'sign-in-failed':
      return (
        <button type="button" className="button button-primary" onClick={connect}>
          Try again
        </button>
      );
    case 'revoked':
    case 'expired':
      return (
        <button type="button" className="button button-primary" onClick={connect}>
          Connect again
        </button>
      );
    default:
      return null;
  }
}

/** Who this page is signed in as at the account provider, and Sign out. */
function Account({ account, phase, signIn, signOut }: { account: SignedInAccount | null; phase: DevicePhase; signIn: () => void; signOut: () => void }) {
  if (phase.kind === 'loading' || phase.kind === 'unavailable') return null;
  return (
    <div className="device-account" role="group" aria-label="Account">
      {account ? (
        <>
          <p>
            Signed in as <strong><bdi>{account.name}</bdi></strong>
            {account.name !== account.subject && (
              <span className="muted">
                {' '}
                (<bdi>{account.subject}</bdi>)
              </span>
            )}{' '}
            <span className="muted">at {new URL(account.issuer).host}</span>
          </p>
          <button type="button" className="button" onClick={signOut}>
            Sign out
          </button>
        </>
      ) : (
        <>
          <p className="muted">Not signed in. Connect asks you to sign in with your account first.</p>
          {phase.kind !== 'signing-in' && (
            <button type="button" className="button" onClick={signIn}>
              Sign in
            </button>
          )}
        </>
      )}
    </div>
  );
}

function Identity({ context }: { context: DeviceContext }) {
  return (
    <aside className="card device-identity" aria-label="This device">
      <p className="eyebrow">Verification code</p>
      <p className="big-code" aria-label={`Verification code ${context.code}`}>
        <code>{context.code}</code>
      </p>
      <p className="muted">The owner sees this code next to your request. Approve only when both match.</p>
      <dl className="facts">
        <div>
          <dt>Shown as</dt>
          <dd>{context.info.label ? <bdi>{context.info.label}</bdi> : 'This browser'}</dd>
        </div>
        <div>
          <dt>Device</dt>
          <dd>{[deviceTypeName[context.info.deviceType], context.info.os].filter(Boolean).join(' · ')}</dd>
        </div>
        <div>
          <dt>Environment</dt>
          <dd>
            <code>{context.environmentId}</code>
          </dd>
        </div>
      </dl>
    </aside>
  );
}

export function DevicePage() {
  const { context, phase, account, connect, disconnect, signIn, signOut } = useDeviceConnection();
  const now = useNow(5_000);
  useEffect(() => {
    document.title = phase.kind === 'waiting' ? 'Waiting for approval · Gatehouse' : phase.kind === 'connected' ? 'Connected · Gatehouse' : 'This device · Gatehouse';
  }, [phase.kind]);

  return (
    <AppShell page="device" ownerPages={context?.ownerPages ?? true}>
      <div className="page-heading">
        <div>
          <p className="eyebrow">Connect</p>
          <h1>This device</h1>
        </div>
      </div>
      <RotationNotice ready={phase.kind === 'ready'} connect={() => void connect()} settled={context?.settledRotation ?? null} />
      <div className="device-grid">
        <section className={`card device-status device-${phase.kind}`} aria-label="Connection">
          <div role="status" aria-live="polite" className="device-status-text">
            <Status phase={phase} now={now} />
          </div>
          <div className="actions">
            <Actions phase={phase} connect={() => void connect()} disconnect={disconnect} />
          </div>
          <Account account={account} phase={phase} signIn={signIn} signOut={signOut} />
        </section>
        {context && <Identity context={context} />}
      </div>
    </AppShell>
  );
}

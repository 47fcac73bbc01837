// The owner's passkeys (SPEC §14): register, rename, remove. Once one exists, approving, switching
// to account mode, invites and approvers ask for it again after 5 minutes.
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { useId, useState, type FormEvent } from 'react';
import { describeError } from '../lib/errors';
import { useStepUp } from '../lib/step-up';
import { absoluteTime, relativeTime } from '../lib/relative-time';
import { trpc } from '../trpc';

export function PasskeysSection({ enabled, now }: { enabled: boolean; now: number }) {
  const list = trpc.owner.passkeys.list.useQuery(undefined, { retry: 1, enabled });
  const options = trpc.owner.passkeys.registrationOptions.useMutation();
  const register = trpc.owner.passkeys.register.useMutation();
  const rename = trpc.owner.passkeys.rename.useMutation();
  const remove = trpc.owner.passkeys.remove.useMutation();
  const withStepUp = useStepUp();
  const [name, setName] = useState('');
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const ids = { heading: useId(), name: useId() };

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    try {
      const optionsJSON = await withStepUp(() => options.mutateAsync());
      const response = await startRegistration({ optionsJSON: optionsJSON as never });
      const added = await register.mutateAsync({ name: name.trim() || 'Passkey', response: response as unknown as Record<string, unknown> });
      setName('');
      setMessage({ error: false, text: `Passkey “${added.name}” registered.` });
      await list.refetch();
    } catch (error) {
      setMessage({ error: true, text: `Could not register the passkey: ${describeError(error)}` });
    }
  };
  const act = async (what: string, run: () => Promise<unknown>) => {
    setMessage(null);
    try {
      await run();
      await list.refetch();
    } catch (error) {
      setMessage({ error: true, text: `Could not ${what}: ${describeError(error)}` });
    }
  };

  return (
    <section className="card" aria-labelledby={ids.heading}>
      <div className="section-heading">
        <h2 id={ids.heading}>Passkeys</h2>
        <p className="muted">
          Sign in at /login with a passkey instead of a link. Once you have one, approving a device, switching to account mode, invites and approvers ask for it again
          after 5 minutes. <code>gatehouse owner login-url</code> always gets you back in.
        </p>
      </div>
      {message && (
        <p className={message.error ? 'inline-error' : 'muted'} role={message.error ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      {list.data && list.data.length === 0 && <p className="muted">No passkeys yet.</p>}
      {list.data && list.data.length > 0 && (
        <ul className="settings-list" aria-label="Passkeys">
          {list.data.map((p) => (
            <li key={p.credentialId}>
              <strong>{p.name}</strong>{' '}
              <span className="muted">
                added <time dateTime={p.createdAt} title={absoluteTime(p.createdAt)}>{relativeTime(p.createdAt, now)}</time>
                {p.lastUsedAt ? `, last used ${relativeTime(p.lastUsedAt, now)}` : ''}
              </span>{' '}
              <button
                type="button"
                className="button button-small button-quiet"
                onClick={() => {
                  const next = window.prompt('New name for this passkey', p.name);
                  if (next) void act('rename the passkey', () => rename.mutateAsync({ credentialId: p.credentialId, name: next }));
                }}
              >
                Rename
              </button>{' '}
              <button type="button" className="button button-small button-quiet" onClick={() => void act('remove the passkey', () => withStepUp(() => remove.mutateAsync({ credentialId: p.credentialId })))}>
                Remove {p.name}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="invite-form" onSubmit={(e) => void add(e)} aria-label="Register a passkey">
        <label htmlFor={ids.name}>Passkey name</label>
        <input id={ids.name} className="input" value={name} maxLength={64} onChange={(e) => setName(e.target.value)} placeholder="This laptop" />
        <button type="submit" className="button button-small button-primary" disabled={options.isPending || register.isPending}>
          Register a passkey
        </button>
      </form>
    </section>
  );
}

/** Sign-in with a passkey from the signed-out page (the one-time link still works). */
export function PasskeySignIn() {
  const [error, setError] = useState<string | null>(null);
  const signIn = async () => {
    setError(null);
    try {
      const post = (path: string, body: unknown) => fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const optionsRes = await post('/login/passkey/options', {});
      const optionsBody = (await optionsRes.json()) as { message?: string };
      if (!optionsRes.ok) throw new Error(optionsBody.message ?? `HTTP ${optionsRes.status}`);
      const response = await startAuthentication({ optionsJSON: optionsBody as never });
      const res = await post('/login/passkey', { response });
      const body = (await res.json().catch(() => ({}))) as { message?: string; redirect?: string };
      if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
      window.location.replace(body.redirect ?? '/settings/connections');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <>
      <button type="button" className="button button-primary" onClick={() => void signIn()}>
        Sign in with a passkey
      </button>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

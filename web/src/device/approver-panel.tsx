// On an approver device's /device page (SPEC §13, S59): the devices waiting for approval, with their
// codes, and Approve (for 24 hours; an approver's approvals always end) / Reject. Nothing for others.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { EnvRouter } from '../../../server/env/trpc/app-router';
import { createEnvClient, type EnvSession } from '../../../shared/client/connect';
import type { ConnectClient } from '../../../shared/contracts';
import type { DpopSigner } from '../../../shared/dpop';

const APPROVE_SECONDS = 86_400;

export function ApproverPanel({ session, signer }: { session: EnvSession; signer: DpopSigner }) {
  const client = useRef(createEnvClient<EnvRouter>(session, signer));
  const [pending, setPending] = useState<ConnectClient[] | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const busy = useRef(false);

  const load = useCallback(async () => {
    try {
      // Asked first, so a device that is not an approver never meets a refusal (and its console stays clean).
      if (!(await client.current.client.approver.query()).approver) return setPending(null);
      const page = await client.current.connect.clients.list.query({ status: 'pending', limit: 500 });
      setPending(page.items.filter((c) => c.clientProofKeyThumbprint !== signer.thumbprint));
    } catch {
      setPending(null); // not an approver: the panel stays away
    }
  }, [signer.thumbprint]);

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 10_000);
    return () => clearInterval(timer);
  }, [load]);

  const decide = async (c: ConnectClient, decision: 'approve' | 'reject') => {
    if (busy.current) return;
    busy.current = true;
    try {
      if (decision === 'approve') await client.current.connect.clients.approve.mutate({ clientProofKeyThumbprint: c.clientProofKeyThumbprint, expiresInSeconds: APPROVE_SECONDS });
      else await client.current.connect.clients.reject.mutate({ clientProofKeyThumbprint: c.clientProofKeyThumbprint });
      setMessage(`${decision === 'approve' ? 'Approved for 24 hours' : 'Rejected'}: ${c.client.label ?? c.verificationCode}.`);
      await load();
    } catch (error) {
      setMessage(`Could not ${decision}: ${(error as Error).message}`);
    } finally {
      busy.current = false;
    }
  };

  if (pending === null) return null;
  return (
    <section aria-labelledby="approver-heading">
      <h2 id="approver-heading">Devices waiting for approval</h2>
      {message && <p role="status">{message}</p>}
      {pending.length === 0 ? (
        <p className="muted">No device is waiting.</p>
      ) : (
        <ul className="clients" aria-label="Devices waiting for approval">
          {pending.map((c) => (
            <li key={c.clientProofKeyThumbprint} className="client">
              <div className="client-main">
                <h3 className="client-title">
                  <bdi>{c.name ?? c.client.label ?? 'Unnamed device'}</bdi>
                </h3>
                <p>
                  Code <code className="code">{c.verificationCode}</code>
                </p>
              </div>
              <div className="client-actions">
                <button type="button" className="button button-small button-primary" onClick={() => void decide(c, 'approve')}>
                  Approve
                </button>
                <button type="button" className="button button-small" onClick={() => void decide(c, 'reject')}>
                  Reject
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

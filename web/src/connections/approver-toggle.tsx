// Approver devices on the settings page (SPEC §13, S59): the owner lets an approved device approve and
// reject others from its own /device page or CLI, and takes that back. It goes through
// `connect.clients.setApprover`, which asks for the passkey again (step-up) once one exists.
import { useEffect, useRef, useState } from 'react';
import { useToasts } from '../components/toasts';
import { describeError } from '../lib/errors';
import { useStepUp } from '../lib/step-up';
import { trpc, type ConnectClient } from '../trpc';
import { clientTitle } from './access-state';

export function ApproverToggle({ client }: { client: ConnectClient }) {
  const toasts = useToasts();
  const withStepUp = useStepUp();
  const setApprover = trpc.connect.clients.setApprover.useMutation();
  const busy = useRef(false);
  const [shown, setShown] = useState<boolean | null>(null);
  // The live row (events) is the truth again as soon as it changes, e.g. when the CLI changed it.
  useEffect(() => setShown(null), [client.approver]);
  // Only an approved device can be an approver; the server says so too.
  if (client.status !== 'approved') return null;
  const approver = shown ?? client.approver;
  const title = clientTitle(client);

  const toggle = async () => {
    if (busy.current) return;
    busy.current = true;
    const next = !approver;
    try {
      const result = await withStepUp(() => setApprover.mutateAsync({ clientProofKeyThumbprint: client.clientProofKeyThumbprint, approver: next }));
      setShown(result.client.approver);
      toasts.show('success', next ? `${title} can now approve and reject other devices.` : `${title} can no longer approve other devices.`);
    } catch (error) {
      setShown(null);
      toasts.show('error', `Could not change whether ${title} is an approver: ${describeError(error)}`);
    } finally {
      busy.current = false;
    }
  };

  return (
    <div className="approver-toggle">
      <p>
        <strong>{approver ? 'Approver device' : 'Not an approver'}</strong>
        <span className="muted">
          {' '}
          · {approver ? 'it can approve (for up to 7 days) and reject other devices, never itself, and change nothing else.' : 'an approver can approve and reject other devices from its own /device page.'}
        </span>
      </p>
      <button type="button" className="button button-small" aria-busy={setApprover.isPending || undefined} onClick={() => void toggle()}>
        {approver ? 'Stop it approving others' : 'Let it approve others'}
      </button>
    </div>
  );
}

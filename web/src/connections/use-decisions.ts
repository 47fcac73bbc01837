// Approve / reject / revoke behind ONE guard for the whole page: a synchronous ref, checked before
// any await, so a double click or two fast clicks on different rows never send two mutations.
import { useCallback, useRef, useState } from 'react';
import { useToasts } from '../components/toasts';
import { describeError, errorData } from '../lib/errors';
import { useStepUp } from '../lib/step-up';
import { trpc, type ConnectClient } from '../trpc';
import { clientTitle, type AccessAction } from './access-state';

export type Decision = 'approve' | 'reject' | 'revoke';

export const runningLabel: Record<Decision, string> = { approve: 'Approving…', reject: 'Rejecting…', revoke: 'Revoking…' };
const doneVerb: Record<Decision, string> = { approve: 'Approved', reject: 'Rejected', revoke: 'Revoked' };
const failVerb: Record<Decision, string> = { approve: 'approve', reject: 'reject', revoke: 'revoke' };

export interface RunningDecision {
  clientProofKeyThumbprint: string;
  decision: Decision;
}

const sessions = (n: number) => (n === 1 ? '1 session' : `${n} sessions`);

export function useDecisions(dispatch: (action: AccessAction) => void) {
  const toasts = useToasts();
  const busy = useRef(false);
  const [running, setRunning] = useState<RunningDecision | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const approve = trpc.connect.clients.approve.useMutation();
  const reject = trpc.connect.clients.reject.useMutation();
  const revoke = trpc.connect.clients.revoke.useMutation();
  const rejectAll = trpc.connect.clients.rejectAllPending.useMutation();
  const withStepUp = useStepUp();

  const decide = useCallback(
    /** `expiresInSeconds`: approve for a time (SPEC §13); absent: until revoked. */
    async (client: ConnectClient, decision: Decision, expiresInSeconds?: number): Promise<void> => {
      if (busy.current) return;
      busy.current = true;
      const thumbprint = client.clientProofKeyThumbprint;
      const title = clientTitle(client);
      setRunning({ clientProofKeyThumbprint: thumbprint, decision });
      setFailure(null);
      try {
        const input = { clientProofKeyThumbprint: thumbprint };
        if (decision === 'revoke') {
          const result = await revoke.mutateAsync(input);
          dispatch({ type: 'removed', clientProofKeyThumbprint: thumbprint });
          toasts.show('success', `Revoked ${title}${result.endedSessions ? ` and ended ${sessions(result.endedSessions)}` : ''}.`);
        } else {
          const result = decision === 'approve' ? await withStepUp(() => approve.mutateAsync({ ...input, ...(expiresInSeconds !== undefined && { expiresInSeconds }) })) : await reject.mutateAsync(input);
          dispatch({ type: 'decided', client: result.client });
          toasts.show('success', `${doneVerb[decision]} ${title}${result.endedSessions ? ` and ended ${sessions(result.endedSessions)}` : ''}.`);
        }
      } catch (error) {
        const message = `Could not ${failVerb[decision]} ${title}: ${describeError(error)}`;
        setFailure(message);
        toasts.show('error', message);
        // Someone else revoked it first: the row is gone on the server, so it goes here too.
        if (errorData(error).code === 'NOT_FOUND') dispatch({ type: 'removed', clientProofKeyThumbprint: thumbprint });
      } finally {
        busy.current = false;
        setRunning(null);
      }
    },
    [approve, reject, revoke, dispatch, toasts, withStepUp],
  );

  /** One decision for many rows, one after another behind the same guard; one summary toast. */
  const decideMany = useCallback(
    async (clients: ConnectClient[], decision: Decision): Promise<void> => {
      if (busy.current || clients.length === 0) return;
      busy.current = true;
      setFailure(null);
      let done = 0;
      let ended = 0;
      const failed: string[] = [];
      try {
        for (const client of clients) {
          const thumbprint = client.clientProofKeyThumbprint;
          setRunning({ clientProofKeyThumbprint: thumbprint, decision });
          const input = { clientProofKeyThumbprint: thumbprint };
          try {
            if (decision === 'revoke') {
              ended += (await revoke.mutateAsync(input)).endedSessions;
              dispatch({ type: 'removed', clientProofKeyThumbprint: thumbprint });
            } else {
              const result = decision === 'approve' ? await withStepUp(() => approve.mutateAsync(input)) : await reject.mutateAsync(input);
              ended += result.endedSessions;
              dispatch({ type: 'decided', client: result.client });
            }
            done++;
          } catch (error) {
            failed.push(`${clientTitle(client)}: ${describeError(error)}`);
            if (errorData(error).code === 'NOT_FOUND') dispatch({ type: 'removed', clientProofKeyThumbprint: thumbprint });
          }
        }
        const devices = (n: number) => (n === 1 ? '1 device' : `${n} devices`);
        if (done > 0) toasts.show('success', `${doneVerb[decision]} ${devices(done)}${ended ? ` and ended ${sessions(ended)}` : ''}.`);
        if (failed.length > 0) {
          const message = `Could not ${failVerb[decision]} ${devices(failed.length)}: ${failed.slice(0, 3).join('; ')}${failed.length > 3 ? '; …' : ''}`;
          setFailure(message);
          toasts.show('error', message);
        }
      } finally {
        busy.current = false;
        setRunning(null);
      }
    },
    [approve, reject, revoke, dispatch, toasts, withStepUp],
  );

  /**
   * "Reject all pending": the server rejects every pending device, loaded on this page or not; the
   * rows it holds change through the stream. `expected` is the count the owner confirmed.
   */
  const rejectAllPending = useCallback(
    async (expected: number): Promise<void> => {
      if (busy.current) return;
      busy.current = true;
      setFailure(null);
      setRunning({ clientProofKeyThumbprint: '*', decision: 'reject' });
      try {
        const result = await rejectAll.mutateAsync();
        const devices = (n: number) => (n === 1 ? '1 device' : `${n} devices`);
        const extra = result.rejected > expected ? ` (${result.rejected - expected} more had asked meanwhile)` : '';
        toasts.show('success', `Rejected ${devices(result.rejected)}${extra}${result.endedSessions ? ` and ended ${sessions(result.endedSessions)}` : ''}.`);
      } catch (error) {
        const message = `Could not reject the pending devices: ${describeError(error)}`;
        setFailure(message);
        toasts.show('error', message);
      } finally {
        busy.current = false;
        setRunning(null);
      }
    },
    [rejectAll, toasts],
  );

  return { decide, decideMany, rejectAllPending, running, failure, clearFailure: () => setFailure(null) };
}

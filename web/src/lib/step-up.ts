// Dangerous owner actions (SPEC §14): when the server answers `step_up_required`, ask for the
// passkey (a user verification) and try the action once more.
import { startAuthentication } from '@simplewebauthn/browser';
import { useCallback } from 'react';
import { errorData } from './errors';
import { trpc } from '../trpc';

export function useStepUp() {
  const { mutateAsync: options } = trpc.owner.stepUp.options.useMutation();
  const { mutateAsync: verify } = trpc.owner.stepUp.verify.useMutation();
  return useCallback(
    async <T,>(action: () => Promise<T>): Promise<T> => {
      try {
        return await action();
      } catch (error) {
        if (errorData(error).reason !== 'step_up_required') throw error;
        const optionsJSON = await options();
        const response = await startAuthentication({ optionsJSON: optionsJSON as never });
        await verify({ response: response as unknown as Record<string, unknown> });
        return action();
      }
    },
    [options, verify],
  );
}

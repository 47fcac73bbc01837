// Turns any failure into a sentence a person can act on; the server's messages are already safe.
import { TRPCClientError } from '@trpc/client';

interface ErrorData {
  code?: string;
  reason?: string;
  fieldErrors?: Record<string, string[]> | null;
}

export function errorData(error: unknown): ErrorData {
  return error instanceof TRPCClientError ? ((error.data ?? {}) as ErrorData) : {};
}

export function describeError(error: unknown): string {
  if (error instanceof TRPCClientError) {
    const data = errorData(error);
    if (data.code === 'UNAUTHORIZED') return 'Your owner session has ended. Open a new login link (npx gatehouse owner login-url).';
    // A fetch that never reached the server has no data at all.
    if (!error.data && /fetch|network|load failed/i.test(error.message)) return 'The environment could not be reached. Check that it is running.';
    return error.message || 'The environment refused the request.';
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

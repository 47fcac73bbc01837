// `gatehouse owner logout --all`: ends every owner session (S63). Through the running environment,
// so open settings pages lose their event streams at once; else on the database directly.
import { createOwnerClient } from '../../env/owner/owner-client';
import { findRunningEnv, openEnvOffline } from '../env-access';
import { EXIT, UsageError } from '../options';
import type { Output } from '../output';
import { DIRECT_WRITE_NOTE, fromTrpcError } from './security-target';

export async function runOwnerLogout(out: Output, opts: { dataDir: string; all: boolean }): Promise<number> {
  // The CLI holds no owner session of its own (it uses the admin token), so only --all means anything.
  if (!opts.all) throw new UsageError('The CLI has no owner session to end: pass --all to sign out every owner session.');
  const running = await findRunningEnv(opts.dataDir);
  let endedSessions: number;
  if (running) {
    try {
      ({ endedSessions } = await createOwnerClient(running.url, running.adminToken).owner.logoutAll.mutate());
    } catch (error) {
      throw fromTrpcError(error, running.url, opts.dataDir);
    }
  } else {
    const env = await openEnvOffline(opts.dataDir);
    try {
      const { endAllOwnerSessions } = await import('../../env/owner/owner-auth.service');
      ({ endedSessions } = endAllOwnerSessions(env.deps));
    } finally {
      env.close();
    }
    out.note(DIRECT_WRITE_NOTE);
  }
  out.data({ endedSessions });
  out.line(`Signed out ${endedSessions} owner session${endedSessions === 1 ? '' : 's'}.`);
  return EXIT.ok;
}

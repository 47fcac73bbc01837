// `gatehouse owner login-url`: a fresh one-time owner login link (SPEC §4, §8).
import { createLoginCode } from '../../env/owner/owner-auth.service';
import { expectedEnvUrl, findRunningEnv, openEnvOffline } from '../env-access';
import { EXIT } from '../options';
import type { Output } from '../output';

export async function runLoginUrl(out: Output, opts: { dataDir: string }): Promise<number> {
  const running = await findRunningEnv(opts.dataDir);
  const env = await openEnvOffline(opts.dataDir);
  try {
    // The code lives in the database, so a running environment redeems it without being asked.
    const url = `${running?.url ?? expectedEnvUrl()}/login#code=${createLoginCode(env.deps).code}`;
    out.data({ url });
    out.line(url);
    if (!running) out.note('The environment is not running: start it (npm start) before opening the link; it stays valid for 10 minutes.');
    return EXIT.ok;
  } finally {
    env.close();
  }
}

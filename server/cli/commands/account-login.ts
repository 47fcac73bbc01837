// `gatehouse login` and `gatehouse logout`: the account sign-in kept in the data directory (SPEC §15).
import { forgetSession, sessionFileOf, signIn } from '../account-session';
import type { Output } from '../output';

export async function runLogin(out: Output, opts: { dataDir: string; relay: string }): Promise<number> {
  const session = await signIn(out, opts);
  out.data({ signedIn: true, subject: session.subject, issuer: session.issuer, relayUrl: session.relayUrl });
  out.line(`Signed in as "${session.subject}" at ${session.issuer}.`);
  out.line(`Kept in ${sessionFileOf(opts.dataDir)} (readable by you only). Forget it with: gatehouse logout`);
  return 0;
}

export async function runLogout(out: Output, opts: { dataDir: string }): Promise<number> {
  const had = forgetSession(opts.dataDir);
  out.data({ signedIn: false });
  out.line(had ? 'Signed out: the account tokens are forgotten here.' : 'Not signed in; nothing to forget.');
  return 0;
}

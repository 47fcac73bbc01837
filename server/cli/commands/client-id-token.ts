// Where a client command gets its account ID token, the same for every `client …` command:
// --id-token (or GATEHOUSE_ID_TOKEN) for automation, --account for the dev issuer's scripted
// sign-in, and otherwise the stored `gatehouse login` session (refreshed, or a browser sign-in when
// the terminal is interactive).
import type { Output } from '../output';
import { devIdToken } from './dev-id-token';

export interface ClientTokenOptions {
  dataDir: string;
  relay: string;
  idToken?: string;
  account?: string;
}

export function clientIdTokenSource(out: Output, opts: ClientTokenOptions): () => Promise<string> {
  const relay = opts.relay.replace(/\/+$/, '');
  return async () => {
    if (opts.idToken) return opts.idToken;
    if (opts.account) return devIdToken(relay, opts.account);
    const { accountIdToken } = await import('../account-session');
    return accountIdToken(out, { dataDir: opts.dataDir, relay, interactive: process.stdin.isTTY === true });
  };
}

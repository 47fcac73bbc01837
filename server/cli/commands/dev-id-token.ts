// An account ID token from the relay's dev issuer, for `connect link --account` and `client connect`.
import { CliError } from '../options';

/**
 * An ID token for `account` from the relay's dev issuer. `idTokenFlag`: the command also takes
 * --id-token (`connect link` does, `client connect` does not), so the messages can offer it.
 */
export async function devIdToken(relayUrl: string, account: string, idTokenFlag = false): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${relayUrl}/dev-issuer/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: account }), signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new CliError(`Could not reach the dev issuer at ${relayUrl}/dev-issuer. Is the relay running (npm start)?${idTokenFlag ? ' Or pass --id-token from your OpenID provider.' : ''}`);
  }
  const body = (await res.json().catch(() => ({}))) as { id_token?: string; message?: string };
  if (res.status === 404) {
    const instead = idTokenFlag
      ? 'Pass --id-token with an ID token from your account’s OpenID provider instead.'
      : 'Use a relay that runs it (`npx gatehouse start`, or `npx gatehouse relay start --dev-issuer`).';
    throw new CliError(`The relay at ${relayUrl} has no dev issuer (${body.message ?? 'HTTP 404'}). ${instead}`);
  }
  if (!res.ok || !body.id_token) throw new CliError(`The dev issuer refused to sign in "${account}": ${body.message ?? `HTTP ${res.status}`}`);
  return body.id_token;
}

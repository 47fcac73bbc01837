// RFC 8693 token exchange at the relay (SPEC §3 step 2): account ID token + DPoP → relay access token.
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { DomainError } from '../common/errors';
import { ACCESS_TOKEN_TYPE, checkTokenRequest, TOKEN_EXCHANGE_GRANT } from '../common/token-request';
import { RELAY_ACCESS_TTL_SECONDS, signRelayAccessToken, CONNECT_SCOPE } from './access-token';
import type { RelayDeps } from './deps';
import { consumeProof, verifyRequestProof } from './relay-auth';

export { TOKEN_EXCHANGE_GRANT };
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

const ExchangeForm = z.object({
  grant_type: z.literal(TOKEN_EXCHANGE_GRANT),
  subject_token: z.string().min(1).max(16 * 1024),
  subject_token_type: z.literal(ID_TOKEN_TYPE),
});

export async function exchangeToken(deps: RelayDeps, req: IncomingMessage, form: Record<string, unknown>) {
  checkTokenRequest(req, form, [deps.relayIssuer, deps.publicUrl()]);
  const parsed = ExchangeForm.safeParse(form);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') ?? 'form';
    throw new DomainError('bad_request', 'invalid_request', `The token request is malformed (${field}). Send grant_type=${TOKEN_EXCHANGE_GRANT}, subject_token_type=${ID_TOKEN_TYPE} and subject_token.`);
  }
  const proof = await verifyRequestProof(deps, req);
  let accountId: string;
  try {
    ({ accountId } = await deps.accountTokens.verify(parsed.data.subject_token));
  } catch (error) {
    // RFC 8693 §2.2.2: an unusable subject_token is `invalid_request` on the wire; the reason says why.
    if (error instanceof DomainError && error.kind === 'unauthorized') throw new DomainError('bad_request', 'invalid_grant', error.message);
    throw error;
  }
  await consumeProof(deps, proof);
  const accessToken = await signRelayAccessToken(deps.signingKey.privateKey, deps.signingKey.kid, {
    relayIssuer: deps.relayIssuer,
    accountId,
    thumbprint: proof.thumbprint,
    now: deps.clock.now(),
  });
  return { access_token: accessToken, token_type: 'DPoP' as const, expires_in: RELAY_ACCESS_TTL_SECONDS, scope: CONNECT_SCOPE, issued_token_type: ACCESS_TOKEN_TYPE };
}

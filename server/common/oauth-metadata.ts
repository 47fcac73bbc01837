// RFC 8414 authorization server metadata for the token endpoints of the relay and the environment:
// what a standards client (oauth4webapi, openid-client) needs to exchange a token with DPoP.
import { DPOP_SIGNING_ALGS } from './www-authenticate';
import { TOKEN_EXCHANGE_GRANT } from './token-request';

export function authorizationServerMetadata(issuer: string, publicUrl: string) {
  return {
    issuer,
    token_endpoint: `${publicUrl.replace(/\/+$/, '')}/oauth/token`,
    grant_types_supported: [TOKEN_EXCHANGE_GRANT],
    token_endpoint_auth_methods_supported: ['none'],
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    response_types_supported: [],
  };
}

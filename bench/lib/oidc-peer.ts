// The peer for the token-exchange benchmark (issue 20): node-oidc-provider's token endpoint issuing
// DPoP-bound JWT access tokens by client_credentials, the closest thing it does to the relay's
// token exchange (ID token + DPoP proof → DPoP-bound access token). Same algorithms as the relay:
// ES256 DPoP proofs, EdDSA access tokens, and with private_key_jwt an EdDSA client assertion to
// verify (the relay verifies an EdDSA ID token); client_secret_basic verifies no signature there.
//
// oidc-provider's default in-memory adapter is an LRU of 1,000 entries shared by every model, so
// a DPoP proof's jti is forgotten after a few thousand requests and could be replayed. The peer
// uses the embedded account issuer's store (server/identity/memory-adapter.ts), which keeps every
// entry until it expires (DPoP jti, client-assertion jti), as the relay's replay store does; it is
// a Map, so it costs less than any real store would.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import type { JWK } from 'jose';
import { createIssuerStore } from '../../server/identity/memory-adapter';

export const PEER_RESOURCE = 'https://api.bench.invalid';
export const PEER_SCOPE = 'api:connect';
export const PEER_BASIC_CLIENT = 'bench-basic';
export const PEER_JWT_CLIENT = 'bench-private-key-jwt';

export interface OidcPeer {
  /** The issuer and token endpoint (DPoP `htu`). */
  issuer: string;
  tokenUrl: string;
  port: number;
  basicSecret: string;
  /** Replay entries the adapter holds (DPoP and client-assertion jti). */
  replayEntries(): number;
  close(): Promise<void>;
}

export async function startOidcPeer(opts: { signingJwk: JWK; clientAssertionPublicJwk: JWK }): Promise<OidcPeer> {
  let handler: ((req: never, res: never) => void) | null = null;
  const server: Server = createServer((req, res) => (handler ? handler(req as never, res as never) : res.writeHead(503).end()));
  // As the relay's server: keep-alive outlives the load's idle moments between slices.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const basicSecret = randomBytes(24).toString('base64url');
  const store = createIssuerStore();
  const client = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], dpop_bound_access_tokens: true, id_token_signed_response_alg: 'EdDSA' };
  const provider = new Provider(issuer, {
    adapter: store.Adapter,
    clients: [
      { ...client, client_id: PEER_BASIC_CLIENT, client_secret: basicSecret, token_endpoint_auth_method: 'client_secret_basic' },
      { ...client, client_id: PEER_JWT_CLIENT, token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'EdDSA', jwks: { keys: [opts.clientAssertionPublicJwk] } },
    ],
    jwks: { keys: [{ ...opts.signingJwk, alg: 'EdDSA', use: 'sig', kid: 'peer-eddsa' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: [PEER_SCOPE],
    enabledJWA: { dPoPSigningAlgValues: ['ES256', 'EdDSA'], clientAuthSigningAlgValues: ['EdDSA', 'ES256'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => PEER_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: PEER_SCOPE, audience: PEER_RESOURCE, accessTokenTTL: 30 * 60, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'EdDSA' } } }),
      },
    },
    ttl: { ClientCredentials: 30 * 60 },
  });
  handler = provider.callback() as never;
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    port,
    basicSecret,
    replayEntries: () => store.entries('ReplayDetection'),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

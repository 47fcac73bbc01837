// `gatehouse/client`: the client runtime a third party imports (SPEC §3): connect with a DPoP key,
// then call the environment through a typed tRPC client.
export {
  connectToEnvironment,
  createEnvClient,
  fetchWhoAmI,
  getRelayAccessToken,
  redeemCredential,
  type ConnectOptions,
  type EnvSession,
  type PendingInfo,
  type RetryInfo,
} from './connect';
export { dpopFetch } from './dpop-fetch';
export { ConnectFailedError, ConnectionBlockedError, type BlockedReason } from './errors';
export { createDpopProof, createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../dpop';
export type { EnvRouter } from '../../server/env/trpc/app-router';

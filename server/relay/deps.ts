import type { JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../common/clock';
import type { SecurityLog } from '../common/security-log';
import type { AccountTokenVerifier } from '../identity/account-token';
import type { RelayStore } from './store';

export interface RelaySigningKey {
  privateKey: CryptoKey | KeyObject;
  publicKey: CryptoKey | Uint8Array;
  publicJwk: JWK;
  kid: string;
}

export interface RelayDeps {
  store: RelayStore;
  clock: Clock;
  relayIssuer: string;
  publicUrl: () => string;
  signingKey: RelaySigningKey;
  accountTokens: AccountTokenVerifier;
  /** How long the relay waits for an environment beyond `waitSeconds` (default 10 s). */
  endpointTimeoutMs?: number;
  /** Replays and refused proofs (S46); the process-wide console log when absent. */
  securityLog?: SecurityLog;
}

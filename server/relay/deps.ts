import type { JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../common/clock';
import type { SecurityLog } from '../common/security-log';
import type { AccountTokenVerifier } from '../identity/account-token';
import type { DirectEndpointPolicy } from './direct-endpoint';
import type { RelayStore } from './store';
import type { PeerHop } from './peer-hop';
import type { TunnelHub } from './tunnel-hub';
import type { WaitSlots } from './wait-slots';

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
  /** The environments' tunnels this instance holds (SPEC §11). */
  tunnels: TunnelHub;
  /** Other instances' tunnels, over the internal hop (SPEC §12); absent on a single instance. */
  peers?: PeerHop;
  /** Held waits per account, key and address (S54). */
  waitSlots: WaitSlots;
  /** Which direct endpoints the relay may call (S52). */
  directEndpoints: DirectEndpointPolicy;
  /** The browser origin of an environment's pages at this relay, when it serves pages. */
  deviceOriginOf?: (environmentId: string) => string | null;
  /** Told when an environment is unlinked, so its tunnel ends. */
  onUnlinked?: (environmentId: string) => void;
  /** The caller's address: the TCP peer, or what a trusted proxy forwarded (client-address.ts). */
  callerAddress: (req: import('node:http').IncomingMessage) => string;
  /** Replays and refused proofs (S46); the process-wide console log when absent. */
  securityLog?: SecurityLog;
}

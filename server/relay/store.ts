// What the relay keeps: environment links and single-use markers. Services see only this interface,
// so the same code runs on the embedded SQLite store or a shared database.
import type { JWK } from 'jose';

export interface RelayLinkRecord {
  environmentId: string;
  accountId: string;
  environmentPublicKey: JWK;
  /** A direct endpoint (SPEC §11), or null: reached only through its tunnel. */
  endpoint: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface RelayIdentity {
  publicKey: JWK;
  publicUrl: string;
}

export interface RelayStore {
  getLink(environmentId: string): Promise<RelayLinkRecord | null>;
  /** Creates or refreshes a link; a link of the same environment to another account is refused. */
  saveLink(record: Omit<RelayLinkRecord, 'createdAt' | 'updatedAt'>, now: number): Promise<{ saved: true } | { saved: false; accountId: string }>;
  deleteLink(environmentId: string): Promise<boolean>;
  /** Atomic single use: true the first time a (kind, key) is seen before it expires. */
  consumeMarker(kind: string, key: string, expiresAt: number): Promise<boolean>;
  pruneMarkers(now: number): Promise<number>;
  /** Throws when the database cannot serve right now (`/readyz`). */
  ping(): Promise<void>;
  /**
   * A shared store records the first instance's key and public URL and answers the recorded pair;
   * an embedded store (one instance) has nothing to compare against and leaves it out.
   */
  claimIdentity?(identity: RelayIdentity, now: number): Promise<RelayIdentity>;
  /** Where tunnels are, for a store several instances share (SPEC §12); absent for an embedded one. */
  tunnelLocations?: TunnelLocationStore;
  close(): Promise<void>;
}

export interface TunnelLocation {
  instanceId: string;
  /** Where other instances reach the holder's internal hop. */
  internalUrl: string;
  leaseExpiresAt: number;
}

export interface TunnelLocationStore {
  /** Records (or takes over) an environment's tunnel and tells every instance. */
  claim(environmentId: string, location: TunnelLocation): Promise<void>;
  renew(instanceId: string, environmentIds: string[], leaseExpiresAt: number): Promise<void>;
  /** Removes the record only while `instanceId` holds it, and tells every instance. */
  release(environmentId: string, instanceId: string): Promise<void>;
  releaseAll(instanceId: string): Promise<void>;
  /** The holder of a live lease, or null. */
  locate(environmentId: string, now: number): Promise<TunnelLocation | null>;
  /**
   * Calls `onMove(environmentId, instanceId | '')` for every claim or release on any instance, and
   * `onListening(false)` while that feed is down (callers must not trust caches meanwhile).
   */
  listen(onMove: (environmentId: string, instanceId: string) => void, onListening: (listening: boolean) => void): void;
}

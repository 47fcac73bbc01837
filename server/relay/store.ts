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
  /**
   * A shared store records the first instance's key and public URL and answers the recorded pair;
   * an embedded store (one instance) has nothing to compare against and leaves it out.
   */
  claimIdentity?(identity: RelayIdentity, now: number): Promise<RelayIdentity>;
  close(): Promise<void>;
}

// The environment's relay link (SPEC §3 step 0), stored in its database.
import { eq } from 'drizzle-orm';
import type { JWK } from 'jose';
import { z } from 'zod';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { hotQueries } from '../db/hot-queries';
import { relayLink } from '../db/schema';
import type { EnvDeps } from '../deps';

export interface RelayLink {
  relayUrl: string;
  relayIssuer: string;
  relayPublicKey: JWK;
  accountId: string;
  linkedAt: string;
  /** Where clients reach this environment through the relay (null for links made before tunnels). */
  routedEndpoint: string | null;
  /** This environment's device page origin at the relay, when it serves pages. */
  deviceOrigin: string | null;
}

const StoredKey = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string() }).passthrough();

/** Every mint reads the link: the same stored key is parsed once (and stays one frozen object). */
let lastParsedKey: { stored: string; key: JWK } | null = null;

/** The stored link, or null. A corrupt row is an error, never a silently different key. */
export function readRelayLink(deps: Pick<EnvDeps, 'db'>): RelayLink | null {
  const row = hotQueries(deps.db).readRelayLink.get();
  if (!row) return null;
  let key: JWK;
  if (lastParsedKey?.stored === row.relayPublicKey) {
    key = lastParsedKey.key;
  } else {
    try {
      key = Object.freeze(StoredKey.parse(JSON.parse(row.relayPublicKey))) as JWK;
    } catch {
      throw new DomainError('internal', 'not_linked', 'The stored relay link is unreadable. Run `npx gatehouse connect unlink` and link again.');
    }
    lastParsedKey = { stored: row.relayPublicKey, key };
  }
  return {
    relayUrl: row.relayUrl,
    relayIssuer: row.relayIssuer,
    relayPublicKey: key,
    accountId: row.accountId,
    linkedAt: row.linkedAt,
    routedEndpoint: row.routedEndpoint,
    deviceOrigin: row.deviceOrigin,
  };
}

export function requireRelayLink(deps: Pick<EnvDeps, 'db'>): RelayLink {
  const link = readRelayLink(deps);
  if (!link) {
    throw new DomainError('forbidden', 'not_linked', 'This environment is not linked to a relay. Link it with `npx gatehouse connect link --relay URL --account NAME`.');
  }
  return link;
}

export function saveRelayLink(deps: Pick<EnvDeps, 'db' | 'clock'>, link: Omit<RelayLink, 'linkedAt'>): RelayLink {
  const linkedAt = isoTime(deps.clock.now());
  const values = {
    relayUrl: link.relayUrl,
    relayIssuer: link.relayIssuer,
    relayPublicKey: JSON.stringify(link.relayPublicKey),
    accountId: link.accountId,
    linkedAt,
    routedEndpoint: link.routedEndpoint,
    deviceOrigin: link.deviceOrigin,
  };
  deps.db.insert(relayLink).values({ id: 1, ...values }).onConflictDoUpdate({ target: relayLink.id, set: values }).run();
  return { ...link, linkedAt };
}

export function deleteRelayLink(deps: Pick<EnvDeps, 'db'>): boolean {
  return deps.db.delete(relayLink).where(eq(relayLink.id, 1)).run().changes > 0;
}

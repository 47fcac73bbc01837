// Every relay instance on one database is one relay to the outside (SPEC §12): the same key signs
// mint requests and the same public URL is the issuer and the DPoP `htu`. The first instance
// records both; an instance that differs refuses to start and says what to fix.
import type { JWK } from 'jose';
import type { RelayStore } from './store';

export class RelayIdentityMismatchError extends Error {}

const publicPart = (jwk: JWK): JWK => ({ kty: jwk.kty, crv: jwk.crv, x: jwk.x });

export async function checkSharedIdentity(store: RelayStore, mine: { publicJwk: JWK; publicUrl: string; keyFile: string }, now: number): Promise<void> {
  if (!store.claimIdentity) return;
  const recorded = await store.claimIdentity({ publicKey: publicPart(mine.publicJwk), publicUrl: mine.publicUrl }, now);
  const key = publicPart(recorded.publicKey);
  if (key.kty !== mine.publicJwk.kty || key.crv !== mine.publicJwk.crv || key.x !== mine.publicJwk.x) {
    throw new RelayIdentityMismatchError(
      `This relay instance's key ${mine.keyFile} is not the key the other instances on this database use. ` +
        `Copy relay-key.json from the data directory of an instance that is already serving (<data-dir>/relay/relay-key.json) to ${mine.keyFile}, then start again.`,
    );
  }
  if (recorded.publicUrl !== mine.publicUrl) {
    throw new RelayIdentityMismatchError(
      `This relay instance's public URL ${mine.publicUrl} differs from ${recorded.publicUrl}, which the other instances on this database use. ` +
        `Start it with --public-url ${recorded.publicUrl} (every instance behind one load balancer has the same public URL).`,
    );
  }
}

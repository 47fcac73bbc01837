import { eq } from 'drizzle-orm';
import type { JWK } from 'jose';
import { isoTime } from '../common/clock';
import { environmentIdOfKey } from '../common/environment-id';
import { environment, relayLink } from './db/schema';
import type { EnvDeps } from './deps';

export interface EnvironmentIdentity {
  environmentId: string;
  /** The id this data directory had before, when it was not yet derived from the key. */
  previousId: string | null;
}

/**
 * This environment's id, derived from its key (SPEC §11). A data directory from before self-certifying
 * ids gets the derived id on start, and its relay link is dropped: the relay knows the old id only,
 * so the environment must link again. Clients and decisions are keyed by thumbprint and stay.
 */
export async function syncEnvironmentId(deps: Pick<EnvDeps, 'db' | 'clock'>, publicJwk: JWK): Promise<EnvironmentIdentity> {
  const derived = await environmentIdOfKey(publicJwk);
  return deps.db.transaction(
    (tx) => {
      const row = tx.select().from(environment).where(eq(environment.id, 1)).get();
      if (!row) {
        tx.insert(environment).values({ id: 1, environmentId: derived, createdAt: isoTime(deps.clock.now()) }).run();
        return { environmentId: derived, previousId: null };
      }
      if (row.environmentId === derived) return { environmentId: derived, previousId: null };
      tx.update(environment).set({ environmentId: derived }).where(eq(environment.id, 1)).run();
      tx.delete(relayLink).where(eq(relayLink.id, 1)).run();
      return { environmentId: derived, previousId: row.environmentId };
    },
    { behavior: 'immediate' },
  );
}

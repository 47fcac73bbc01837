import { eq } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { isoTime } from '../common/clock';
import { environment } from './db/schema';
import type { EnvDeps } from './deps';

/** This environment's stable id, made on first start. */
export function getOrCreateEnvironmentId(deps: Pick<EnvDeps, 'db' | 'clock'>): string {
  return deps.db.transaction(
    (tx) => {
      const row = tx.select().from(environment).where(eq(environment.id, 1)).get();
      if (row) return row.environmentId;
      const environmentId = `env_${randomBytes(12).toString('base64url')}`;
      tx.insert(environment).values({ id: 1, environmentId, createdAt: isoTime(deps.clock.now()) }).run();
      return environmentId;
    },
    { behavior: 'immediate' },
  );
}

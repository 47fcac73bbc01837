import type { Clock } from '../common/clock';
import type { EnvDb } from './db/database';
import type { AccessBus } from './events/access-bus';

/** What every environment service takes: tests pass their own. */
export interface EnvDeps {
  db: EnvDb;
  bus: AccessBus;
  clock: Clock;
}

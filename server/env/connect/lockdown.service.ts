// Pause new devices (SPEC §13): while paused, keys never seen before get no pending row and are
// refused with `new_devices_paused`; approved and known clients are not affected.
import { eq } from 'drizzle-orm';
import { LOCKDOWN_INDEFINITE, type AuditActor, type LockdownState } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { connectSettings } from '../db/schema';
import type { EnvDeps } from '../deps';

export const NEW_DEVICES_PAUSED_MESSAGE = 'This environment is not accepting new devices right now.';

export function newDevicesPaused(): DomainError {
  return new DomainError('forbidden', 'new_devices_paused', NEW_DEVICES_PAUSED_MESSAGE);
}

/** The stored pause, or null when new devices are accepted (never set, turned off, or run out at `now`). */
export function readLockdown(db: EnvDb, now: number): LockdownState {
  // On every never-seen key's ask (the flood path): one statement prepared per database.
  const row = hotQueries(db).readLockdownUntil.get();
  const until = row?.until ?? null;
  if (until === null) return { until: null, indefinite: false };
  const at = Date.parse(until);
  // An unreadable stored time fails closed: paused until the owner turns it off.
  if (Number.isNaN(at)) return { until: LOCKDOWN_INDEFINITE, indefinite: true };
  return at > now ? { until, indefinite: until === LOCKDOWN_INDEFINITE } : { until: null, indefinite: false };
}

export const isLockedDown = (db: EnvDb, now: number): boolean => readLockdown(db, now).until !== null;

/** `until`: an ISO time in the future, LOCKDOWN_INDEFINITE ("until I turn it off"), or null (accept again). */
export function setLockdown(deps: EnvDeps, until: string | null, actor: AuditActor): LockdownState {
  const now = deps.clock.now();
  let stored: string | null = null;
  if (until !== null) {
    const at = Date.parse(until);
    if (Number.isNaN(at)) throw new DomainError('bad_request', 'invalid_input', 'until must be an ISO 8601 time, or null to accept new devices again.');
    if (at <= now) throw new DomainError('bad_request', 'invalid_input', 'until must be in the future; use null to accept new devices again.');
    stored = until === LOCKDOWN_INDEFINITE ? LOCKDOWN_INDEFINITE : isoTime(at);
  }
  deps.db.transaction(
    (tx) => {
      const at = isoTime(now);
      const updated = tx.update(connectSettings).set({ lockdownUntil: stored, updatedAt: at }).where(eq(connectSettings.id, 1)).run();
      if (updated.changes === 0) tx.insert(connectSettings).values({ id: 1, securityMode: 'account', updatedAt: at, lockdownUntil: stored }).run();
      recordAudit(deps.db, now, { actor, action: 'lockdown_set', detail: { until: stored } });
    },
    { behavior: 'immediate' },
  );
  return readLockdown(deps.db, now);
}

/** When the new-client limiter last refused a device, per environment: the page then offers a pause. */
const floods = new WeakMap<EnvDeps, number>();

export function recordFlood(deps: EnvDeps, now: number): void {
  floods.set(deps, now);
}

/** The pause, and when the flood limiter last tripped (null: not since this process started). */
export function lockdownStatus(deps: EnvDeps): LockdownState & { floodedAt: string | null } {
  const flooded = floods.get(deps);
  return { ...readLockdown(deps.db, deps.clock.now()), floodedAt: flooded === undefined ? null : isoTime(flooded) };
}

// `gatehouse connect pause [--for 15m|forever] [--off]` (SPEC §13): show or set the pause on new devices.
import { LOCKDOWN_INDEFINITE, type LockdownState } from '../../../shared/contracts';
import { EXIT } from '../options';
import type { Output } from '../output';
import { openSecurityTarget, DIRECT_READ_NOTE, DIRECT_WRITE_NOTE } from './security-target';

export const describeLockdown = (state: LockdownState): string =>
  state.until === null ? 'New devices may ask to connect.' : state.indefinite ? 'New devices are paused until you turn it off (gatehouse connect pause --off).' : `New devices are paused until ${state.until}.`;

/** `change`: seconds to pause for, 'forever', 'off', or absent to show the state. */
export async function runPause(out: Output, opts: { dataDir: string; change?: number | 'forever' | 'off' }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const { change } = opts;
    const state =
      change === undefined
        ? await target.getLockdown()
        : await target.setLockdown(change === 'off' ? null : change === 'forever' ? LOCKDOWN_INDEFINITE : new Date(Date.now() + change * 1000).toISOString());
    if (target.via === 'database') out.note(change === undefined ? DIRECT_READ_NOTE : DIRECT_WRITE_NOTE);
    out.data(state);
    out.line(describeLockdown(state));
    return EXIT.ok;
  } finally {
    target.close();
  }
}

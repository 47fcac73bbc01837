// Durations on the command line (`--for 24h`): whole minutes, hours or days, within a command's range.
import { UsageError } from './options';

const UNIT_SECONDS = { m: 60, h: 3600, d: 86_400 } as const;

/** Seconds in `text` ("15m", "8h", "7d"), or a UsageError naming the flag and the range. */
export function parseDuration(text: string, flag: string, range: { minSeconds: number; maxSeconds: number; examples: string }): number {
  const match = /^(\d{1,6})([mhd])$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS] : NaN;
  if (!Number.isFinite(seconds) || seconds < range.minSeconds || seconds > range.maxSeconds) {
    throw new UsageError(`${flag} takes a duration like ${range.examples} (minutes m, hours h or days d, from ${spell(range.minSeconds)} to ${spell(range.maxSeconds)}), not "${text}".`);
  }
  return seconds;
}

/** "1 minute", "24 hours", "30 days": the largest whole unit. */
export function spell(seconds: number): string {
  const [n, unit] = seconds % 86_400 === 0 && seconds > 86_400 ? [seconds / 86_400, 'day'] : seconds % 3600 === 0 ? [seconds / 3600, 'hour'] : [Math.round(seconds / 60), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

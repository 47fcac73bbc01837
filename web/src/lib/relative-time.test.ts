import { describe, expect, it } from 'vitest';
import { relativeTime } from './relative-time';

const now = Date.UTC(2026, 2, 10, 12, 0, 0);
const ago = (ms: number) => new Date(now - ms).toISOString();

describe('relativeTime', () => {
  it.each([
    [0, 'just now'],
    [44_000, 'just now'],
    [45_000, '1m ago'],
    [2 * 60_000 + 59_000, '2m ago'],
    [59 * 60_000, '59m ago'],
    [60 * 60_000, '1h ago'],
    [23 * 3_600_000 + 59 * 60_000, '23h ago'],
    [24 * 3_600_000, '1d ago'],
    [6 * 86_400_000, '6d ago'],
  ])('%i ms ago → %s', (ms, text) => {
    expect(relativeTime(ago(ms), now)).toBe(text);
  });

  it('a time a little in the future (clock skew) is "just now", never "in …"', () => {
    expect(relativeTime(new Date(now + 5_000).toISOString(), now)).toBe('just now');
  });

  it('older than a week shows the date', () => {
    expect(relativeTime(ago(30 * 86_400_000), now)).toBe('on 8 Feb 2026');
  });

  it('an unparseable time does not throw', () => {
    expect(relativeTime('not a time', now)).toBe('at an unknown time');
  });
});

// The security log (SECURITY S46): one cleaned line per event, a hash instead of the jti, and a cap
// per kind and window with one "suppressed" line after it.
import { describe, expect, it } from 'vitest';
import { manualClock } from './clock';
import { createSecurityLog, jtiHash, SECURITY_LOG_MAX_PER_WINDOW, SECURITY_LOG_WINDOW_MS } from './security-log';
import { createTokenBucket } from './token-bucket';

const THUMBPRINT = 'tp000001'.padEnd(43, 'A');

function setup() {
  const clock = manualClock();
  const lines: string[] = [];
  return { clock, lines, log: createSecurityLog({ sink: (line) => lines.push(line), clock }) };
}

describe('security log', () => {
  it('S46 writes the kind, where, thumbprint and a jti hash, never the jti', () => {
    const { lines, log } = setup();
    const jti = 'a-jti-that-must-not-appear-1234';
    log.record({ kind: 'dpop_replayed', where: 'env POST /oauth/token', thumbprint: THUMBPRINT, jti });
    expect(lines).toEqual([`[gatehouse security] dpop_replayed at=env POST /oauth/token thumbprint=${THUMBPRINT} jti_sha256=${jtiHash(jti)}`]);
    expect(jtiHash(jti)).toMatch(/^[0-9a-f]{16}$/);
    expect(lines.join('\n')).not.toContain(jti);
  });

  it('S46 cleans what it writes: no line breaks or escapes to forge lines, and bounded fields', () => {
    const { lines, log } = setup();
    log.record({ kind: 'dpop_invalid', where: `env GET /x\n[gatehouse security] forged\u001b[31m${'y'.repeat(500)}`, reason: 'bad "quote"\r\nsecond line' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\r\n\u001b]/);
    expect(lines[0]!.length).toBeLessThan(300);
    expect(lines[0]).toContain(`reason="bad 'quote'??second line"`);
  });

  it(`S46 at most ${SECURITY_LOG_MAX_PER_WINDOW} lines per kind in ${SECURITY_LOG_WINDOW_MS / 1000} s, then one "suppressed" line; kinds count separately`, () => {
    const { clock, lines, log } = setup();
    for (let i = 0; i < 1000; i++) log.record({ kind: 'dpop_invalid', where: 'relay POST /oauth/token', reason: 'DPoP proof is malformed' });
    log.record({ kind: 'mint_replayed', where: 'env mint', jti: 'jti-of-a-mint-request-0001' });
    expect(lines.filter((l) => l.includes('dpop_invalid'))).toHaveLength(SECURITY_LOG_MAX_PER_WINDOW);
    expect(lines.filter((l) => l.includes('mint_replayed'))).toHaveLength(1);
    clock.advance(SECURITY_LOG_WINDOW_MS - 1);
    log.record({ kind: 'dpop_invalid', where: 'relay POST /oauth/token', reason: 'still the same window' });
    expect(lines).toHaveLength(SECURITY_LOG_MAX_PER_WINDOW + 1);
    clock.advance(1);
    log.record({ kind: 'dpop_invalid', where: 'relay POST /oauth/token', reason: 'a new window' });
    expect(lines.slice(-2)).toEqual([
      `[gatehouse security] dpop_invalid suppressed ${1000 + 1 - SECURITY_LOG_MAX_PER_WINDOW} more line(s) in 10 s`,
      '[gatehouse security] dpop_invalid at=relay POST /oauth/token reason="a new window"',
    ]);
  });
});

describe('token bucket', () => {
  it('S44 allows a burst, then the refill rate; a clock stepping back refills nothing', () => {
    const bucket = createTokenBucket({ perSecond: 20, burst: 100 });
    const t = Date.UTC(2026, 0, 1);
    const taken = (now: number, n: number) => Array.from({ length: n }, () => bucket.take(now)).filter(Boolean).length;
    expect(taken(t, 150)).toBe(100);
    expect(taken(t + 500, 50)).toBe(10);
    expect(taken(t - 60_000, 5)).toBe(0);
    expect(taken(t + 1000, 50)).toBe(10);
    expect(taken(t + 3_600_000, 500)).toBe(100);
  });
});

// The structural checks every compact JWS gets before any key is touched (S2, S32, S33).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JwsFormatError, parseStrictJson, precheckCompactJws } from './jws-precheck';

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(JwsFormatError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('parseStrictJson', () => {
  it('S32 refuses a member name given twice, at any depth and however it is escaped', () => {
    for (const text of [
      '{"a":1,"a":2}',
      '{"x":{"b":1,"c":2,"b":3}}',
      '[{"k":1},{"k":1,"k":2}]',
      '{"a":1,"\\u0061":2}',
      '{"a":{"z":1},"b":[{"y":[{"q":1,"q":1}]}]}',
    ]) {
      expect(refusal(() => parseStrictJson(text, 'payload'))).toBe('payload has a duplicate member name');
    }
  });

  it('reads colons, quotes and backslashes inside strings as text, not structure', () => {
    const text = '{"a:b":"x:\\"y:z\\\\","b":["::",{"c\\"":":"}],"d":"\\\\"}';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it('allows 17 levels of nesting and refuses 18; refuses what is not JSON', () => {
    const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    expect(parseStrictJson(nested(17))).toBeDefined();
    expect(refusal(() => parseStrictJson(nested(18)))).toBe('JSON is nested too deeply');
    for (const text of ['{"a":1,}', "{'a':1}", '{"a":1', '', 'NaN', '{"a" 1}', '{"a":1}}']) {
      expect(refusal(() => parseStrictJson(text))).toBe('JSON is not valid JSON');
    }
  });

  it('agrees with JSON.parse on any JSON without duplicates, and refuses any with one added', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 }), { minKeys: 1 }), fc.nat(), (object, pick) => {
        const text = JSON.stringify(object);
        expect(parseStrictJson(text)).toEqual(JSON.parse(text));
        const keys = Object.keys(object);
        const name = JSON.stringify(keys[pick % keys.length]);
        expect(() => parseStrictJson(`${text.slice(0, -1)},${name}:0}`)).toThrow('has a duplicate member name');
      }),
      { numRuns: 300 },
    );
  });
});

describe('precheckCompactJws', () => {
  it('runs the caller’s header rules before the payload is decoded', () => {
    const token = `${b64('{"alg":"EdDSA","typ":"JWT"}')}.${b64('{"a":1,"a":2}')}.${b64('sig')}`;
    const typRule = (header: Record<string, unknown>) => {
      if (header.typ !== 'want') throw new JwsFormatError('wrong typ');
    };
    expect(refusal(() => precheckCompactJws(token, 8192, typRule))).toBe('wrong typ');
    expect(refusal(() => precheckCompactJws(token))).toBe('payload has a duplicate member name');
  });

  it('S2 S33 refuses JWE, crit, b64, zip and non-canonical base64url before the payload', () => {
    const with_ = (header: object) => `${b64(JSON.stringify(header))}.${b64('{}')}.${b64('s')}`;
    expect(refusal(() => precheckCompactJws(with_({ alg: 'EdDSA', crit: ['x'] })))).toBe('critical header extensions are not supported');
    expect(refusal(() => precheckCompactJws(with_({ alg: 'EdDSA', b64: false })))).toBe('unencoded payloads are not supported');
    expect(refusal(() => precheckCompactJws(with_({ alg: 'EdDSA', zip: 'DEF' })))).toBe('compressed tokens are not accepted');
    expect(refusal(() => precheckCompactJws('a.b.c.d.e'))).toBe('encrypted tokens (JWE) are not accepted');
    expect(refusal(() => precheckCompactJws(`${b64('{"alg":"EdDSA"}')}.e31.${b64('s')}`))).toBe('payload segment is not canonical base64url');
  });
});

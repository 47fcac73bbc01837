// Structural checks every compact JWS gets before any key is touched (SECURITY S2, S32, S33).

export const MAX_COMPACT_JWS_LENGTH = 8 * 1024;
const MAX_JSON_DEPTH = 16;

export type JsonObject = Record<string, unknown>;

export interface PrecheckedJws {
  header: JsonObject;
  payload: JsonObject;
}

/** A malformed token; the message is safe to show and never echoes the token. */
export class JwsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwsFormatError';
  }
}

const TOKEN_ALPHABET = /^[A-Za-z0-9_.-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeSegment(segment: string, what: string): Uint8Array {
  if (segment.length === 0) throw new JwsFormatError(`${what} segment is empty`);
  // A length of 4n+1 can never be valid base64; re-encoding catches non-zero trailing bits.
  // Node's codec, not jose's JS one (a visible share of each request, bench P1/P4); the caller has
  // already checked that only base64url characters are present.
  const bytes = Buffer.from(segment, 'base64url');
  if (segment.length % 4 === 1 || bytes.toString('base64url') !== segment) {
    throw new JwsFormatError(`${what} segment is not canonical base64url`);
  }
  return bytes;
}

function parseJsonObject(bytes: Uint8Array, what: string): JsonObject {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new JwsFormatError(`${what} is not UTF-8`);
  }
  assertStrictJson(text, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JwsFormatError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwsFormatError(`${what} must be a JSON object`);
  }
  return value as JsonObject;
}

/**
 * Size cap, exactly three canonical base64url segments, JSON objects without duplicate member
 * names, and no JWE, `zip`, `crit` or `b64`. Throws JwsFormatError; never verifies a signature.
 */
export function precheckCompactJws(token: unknown, maxLength = MAX_COMPACT_JWS_LENGTH): PrecheckedJws {
  if (typeof token !== 'string') throw new JwsFormatError('token must be a string');
  if (token.length > maxLength) throw new JwsFormatError('token is too large');
  if (!TOKEN_ALPHABET.test(token)) throw new JwsFormatError('token has characters outside base64url');
  const segments = token.split('.');
  if (segments.length === 5) throw new JwsFormatError('encrypted tokens (JWE) are not accepted');
  if (segments.length !== 3) throw new JwsFormatError('token must have exactly three segments');
  const [headerB64, payloadB64, signatureB64] = segments as [string, string, string];
  const header = parseJsonObject(decodeSegment(headerB64, 'header'), 'header');
  const payload = parseJsonObject(decodeSegment(payloadB64, 'payload'), 'payload');
  decodeSegment(signatureB64, 'signature');
  if (Object.hasOwn(header, 'enc')) throw new JwsFormatError('encrypted tokens (JWE) are not accepted');
  if (Object.hasOwn(header, 'zip')) throw new JwsFormatError('compressed tokens are not accepted');
  // We understand no extensions, so any `crit` is unknown; `b64:false` would detach the payload.
  if (Object.hasOwn(header, 'crit')) throw new JwsFormatError('critical header extensions are not supported');
  if (Object.hasOwn(header, 'b64')) throw new JwsFormatError('unencoded payloads are not supported');
  return { header, payload };
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;
const WHITESPACE = /[ \t\n\r]*/y;

/**
 * RFC 8259 grammar walk that refuses duplicate member names (S32): JSON.parse silently keeps the
 * last one, so a signer and a verifier could read different claims from one token.
 */
export function assertStrictJson(text: string, what = 'JSON'): void {
  let at = 0;
  const fail = (why: string): never => {
    throw new JwsFormatError(`${what} ${why}`);
  };
  const match = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at;
    const found = pattern.exec(text);
    if (!found) return undefined;
    at = pattern.lastIndex;
    return found[0];
  };
  const skipWhitespace = () => void match(WHITESPACE);
  const expect = (char: string) => {
    skipWhitespace();
    if (text[at] !== char) fail('is not valid JSON');
    at++;
  };
  const value = (depth: number): void => {
    if (depth > MAX_JSON_DEPTH) fail('is nested too deeply');
    skipWhitespace();
    const char = text[at];
    if (char === '{') {
      at++;
      const names = new Set<string>();
      skipWhitespace();
      if (text[at] === '}') return void at++;
      for (;;) {
        skipWhitespace();
        const raw = match(STRING) ?? fail('is not valid JSON');
        const name = JSON.parse(raw) as string;
        if (names.has(name)) fail('has a duplicate member name');
        names.add(name);
        expect(':');
        value(depth + 1);
        skipWhitespace();
        if (text[at] === ',') at++;
        else return expect('}');
      }
    }
    if (char === '[') {
      at++;
      skipWhitespace();
      if (text[at] === ']') return void at++;
      for (;;) {
        value(depth + 1);
        skipWhitespace();
        if (text[at] === ',') at++;
        else return expect(']');
      }
    }
    if (match(STRING) ?? match(NUMBER) ?? match(LITERAL)) return;
    fail('is not valid JSON');
  };
  value(0);
  skipWhitespace();
  if (at !== text.length) fail('is not valid JSON');
}

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
  // Node's codec, not jose's slower JS one; the caller has already checked the alphabet.
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
  const value = parseStrictJson(text, what);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwsFormatError(`${what} must be a JSON object`);
  }
  return value as JsonObject;
}

/**
 * Size cap, exactly three canonical base64url segments, JSON objects without duplicate member
 * names, and no JWE, `zip`, `crit` or `b64`. Throws JwsFormatError; never verifies a signature.
 */
export function precheckCompactJws(token: unknown, maxLength = MAX_COMPACT_JWS_LENGTH, checkHeader?: (header: JsonObject) => void): PrecheckedJws {
  if (typeof token !== 'string') throw new JwsFormatError('token must be a string');
  if (token.length > maxLength) throw new JwsFormatError('token is too large');
  if (!TOKEN_ALPHABET.test(token)) throw new JwsFormatError('token has characters outside base64url');
  const segments = token.split('.');
  if (segments.length === 5) throw new JwsFormatError('encrypted tokens (JWE) are not accepted');
  if (segments.length !== 3) throw new JwsFormatError('token must have exactly three segments');
  const [headerB64, payloadB64, signatureB64] = segments as [string, string, string];
  const header = parseJsonObject(decodeSegment(headerB64, 'header'), 'header');
  if (Object.hasOwn(header, 'enc')) throw new JwsFormatError('encrypted tokens (JWE) are not accepted');
  if (Object.hasOwn(header, 'zip')) throw new JwsFormatError('compressed tokens are not accepted');
  // We understand no extensions, so any `crit` is unknown; `b64:false` would detach the payload.
  if (Object.hasOwn(header, 'crit')) throw new JwsFormatError('critical header extensions are not supported');
  if (Object.hasOwn(header, 'b64')) throw new JwsFormatError('unencoded payloads are not supported');
  // The caller's header rules (alg, typ) before the payload is even decoded: cheap refusals first.
  checkHeader?.(header);
  const payload = parseJsonObject(decodeSegment(payloadB64, 'payload'), 'payload');
  decodeSegment(signatureB64, 'signature');
  return { header, payload };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/** Member names in a parsed JSON value, counting every object at every depth. */
function countMembers(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (Array.isArray(value)) {
    let n = 0;
    for (const item of value) n += countMembers(item);
    return n;
  }
  let n = 0;
  for (const key in value) if (Object.hasOwn(value, key)) n += 1 + countMembers((value as JsonObject)[key]);
  return n;
}

/**
 * JSON.parse that refuses duplicate member names (S32: JSON.parse silently keeps the last one, so a
 * signer and a verifier could read different claims from one token) and nesting deeper than 16.
 * In text JSON.parse accepts, every `:` outside a string separates one member name from its value;
 * a parsed value with fewer names than that had a name twice. One character scan, no regexes: it
 * runs on every token of every request.
 */
export function parseStrictJson(text: string, what = 'JSON'): unknown {
  let separators = 0;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === COLON) separators++;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_JSON_DEPTH + 1) throw new JwsFormatError(`${what} is nested too deeply`);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JwsFormatError(`${what} is not valid JSON`);
  }
  if (countMembers(value) !== separators) throw new JwsFormatError(`${what} has a duplicate member name`);
  return value;
}

/** parseStrictJson for a caller that only needs the verdict. */
export function assertStrictJson(text: string, what = 'JSON'): void {
  parseStrictJson(text, what);
}

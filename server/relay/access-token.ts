// Relay access tokens (SPEC §2): EdDSA, sender-constrained to the client's DPoP key (cnf.jkt).
// Signed and checked with node:crypto one-shot calls (server/common/jws-crypto.ts says why not jose).
import type { JWK } from 'jose';
import { randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { epochSeconds } from '../common/clock';
import { DomainError } from '../common/errors';
import { JwsFormatError, precheckCompactJws } from '../common/jws-precheck';
import { checkJwtClaims, keyObjectOf, publicKeyFromJwk, signJwsAsync, verifyJwsSignatureAsync } from '../common/jws-crypto';

export const RELAY_ACCESS_TYP = 'gatehouse-relay-access+jwt';
export const RELAY_ACCESS_TTL_SECONDS = 30 * 60;
export const CONNECT_SCOPE = 'environment:connect';

type SigningKey = CryptoKey | KeyObject;
type VerifyKey = CryptoKey | KeyObject;

export async function signRelayAccessToken(key: SigningKey, kid: string, input: { relayIssuer: string; accountId: string; thumbprint: string; now: number }): Promise<string> {
  const iat = epochSeconds(input.now);
  return signJwsAsync(
    { alg: 'EdDSA', typ: RELAY_ACCESS_TYP, kid },
    {
      cnf: { jkt: input.thumbprint },
      scope: CONNECT_SCOPE,
      iss: input.relayIssuer,
      aud: input.relayIssuer,
      sub: input.accountId,
      jti: randomBytes(16).toString('base64url'),
      iat,
      exp: iat + RELAY_ACCESS_TTL_SECONDS,
    },
    key,
  );
}

/** The relay's public key as a KeyObject: converted once per key object (a JWK is frozen config). */
const verifyKeys = new WeakMap<object, KeyObject | undefined>();
function verifyKeyOf(key: VerifyKey | JWK): KeyObject | undefined {
  if (verifyKeys.has(key)) return verifyKeys.get(key);
  let keyObject: KeyObject | undefined;
  if ('kty' in key && typeof key.kty === 'string') keyObject = publicKeyFromJwk(key as Record<string, unknown>, 'EdDSA');
  else keyObject = keyObjectOf(key as VerifyKey);
  if (Object.isFrozen(key) || !('kty' in key)) verifyKeys.set(key, keyObject);
  return keyObject;
}

const Claims = z.object({
  sub: z.string().min(1).max(255),
  jti: z.string().min(1),
  scope: z.string(),
  cnf: z.object({ jkt: z.string().regex(/^[A-Za-z0-9_-]{43}$/) }),
  iat: z.number().int(),
  exp: z.number().int(),
});
export type RelayAccessClaims = z.infer<typeof Claims>;

const invalidToken = (why: string) => new DomainError('unauthorized', 'invalid_token', `The relay access token is not valid: ${why}.`);

export async function verifyRelayAccessToken(token: string, opts: { key: VerifyKey | JWK; relayIssuer: string; now: number }): Promise<RelayAccessClaims> {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = precheckCompactJws(token));
  } catch (error) {
    throw invalidToken(error instanceof JwsFormatError ? error.message : 'malformed');
  }
  const failed = () => invalidToken('signature, type, issuer, audience or lifetime check failed');
  const key = verifyKeyOf(opts.key);
  if (header.alg !== 'EdDSA' || header.typ !== RELAY_ACCESS_TYP || !key || !(await verifyJwsSignatureAsync(token, 'EdDSA', key))) throw failed();
  try {
    checkJwtClaims(payload, {
      issuer: opts.relayIssuer,
      audience: opts.relayIssuer,
      now: opts.now,
      clockToleranceSeconds: 60,
      required: ['exp', 'iat', 'sub', 'jti'],
    });
  } catch {
    throw failed();
  }
  const claims = Claims.safeParse(payload);
  if (!claims.success) throw invalidToken('claims are malformed');
  if (claims.data.exp - claims.data.iat > RELAY_ACCESS_TTL_SECONDS) throw invalidToken('it lives too long');
  return claims.data;
}

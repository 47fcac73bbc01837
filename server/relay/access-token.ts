// Relay access tokens (SPEC §2): EdDSA, sender-constrained to the client's DPoP key (cnf.jkt).
import { jwtVerify, SignJWT, type JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { epochSeconds } from '../common/clock';
import { DomainError } from '../common/errors';
import { JwsFormatError, precheckCompactJws } from '../common/jws-precheck';

export const RELAY_ACCESS_TYP = 'gatehouse-relay-access+jwt';
export const RELAY_ACCESS_TTL_SECONDS = 30 * 60;
export const CONNECT_SCOPE = 'environment:connect';

type SigningKey = Parameters<SignJWT['sign']>[0];
type VerifyKey = Parameters<typeof jwtVerify>[1];

export async function signRelayAccessToken(key: SigningKey, kid: string, input: { relayIssuer: string; accountId: string; thumbprint: string; now: number }): Promise<string> {
  return new SignJWT({ cnf: { jkt: input.thumbprint }, scope: CONNECT_SCOPE })
    .setProtectedHeader({ alg: 'EdDSA', typ: RELAY_ACCESS_TYP, kid })
    .setIssuer(input.relayIssuer)
    .setAudience(input.relayIssuer)
    .setSubject(input.accountId)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuedAt(epochSeconds(input.now))
    .setExpirationTime(epochSeconds(input.now) + RELAY_ACCESS_TTL_SECONDS)
    .sign(key);
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
  try {
    precheckCompactJws(token);
  } catch (error) {
    throw invalidToken(error instanceof JwsFormatError ? error.message : 'malformed');
  }
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, opts.key as VerifyKey, {
      algorithms: ['EdDSA'],
      typ: RELAY_ACCESS_TYP,
      issuer: opts.relayIssuer,
      audience: opts.relayIssuer,
      currentDate: new Date(opts.now),
      clockTolerance: 60,
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
    }));
  } catch {
    throw invalidToken('signature, type, issuer, audience or lifetime check failed');
  }
  const claims = Claims.safeParse(payload);
  if (!claims.success) throw invalidToken('claims are malformed');
  if (claims.data.exp - claims.data.iat > RELAY_ACCESS_TTL_SECONDS) throw invalidToken('it lives too long');
  return claims.data;
}

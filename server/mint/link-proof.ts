// The environment's link and unlink proofs (SPEC §3 step 0): self-signed by the environment key.
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { epochSeconds } from '../common/clock';
import { JwsFormatError, precheckCompactJws } from '../common/jws-precheck';

export const LINK_TYP = 'gatehouse-link+jwt';
export const UNLINK_TYP = 'gatehouse-unlink+jwt';
const LIFETIME_SECONDS = 300;

const Ed25519Jwk = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().regex(/^[A-Za-z0-9_-]{43}$/) }).strict();
const EnvironmentId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);

export class LinkProofError extends Error {}

type SigningKey = Parameters<SignJWT['sign']>[0];

function signEnvProof(key: SigningKey, typ: string, environmentId: string, relayIssuer: string, now: number, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ environmentId, ...claims })
    .setProtectedHeader({ alg: 'EdDSA', typ })
    .setIssuer(`env:${environmentId}`)
    .setAudience(relayIssuer)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuedAt(epochSeconds(now))
    .setExpirationTime(epochSeconds(now) + LIFETIME_SECONDS)
    .sign(key);
}

export function signLinkProof(
  key: SigningKey,
  input: { environmentId: string; environmentPublicKey: JWK; endpoint: string; relayIssuer: string; now: number },
): Promise<string> {
  const { kty, crv, x } = input.environmentPublicKey;
  return signEnvProof(key, LINK_TYP, input.environmentId, input.relayIssuer, input.now, { environmentPublicKey: { kty, crv, x }, endpoint: input.endpoint });
}

export function signUnlinkProof(key: SigningKey, input: { environmentId: string; relayIssuer: string; now: number }): Promise<string> {
  return signEnvProof(key, UNLINK_TYP, input.environmentId, input.relayIssuer, input.now, {});
}

async function verifyWith(token: string, key: JWK, typ: string, relayIssuer: string, environmentId: string, now: number) {
  const { payload } = await jwtVerify(token, await importJWK({ ...key, alg: 'EdDSA' }, 'EdDSA'), {
    algorithms: ['EdDSA'],
    typ,
    issuer: `env:${environmentId}`,
    audience: relayIssuer,
    currentDate: new Date(now),
    clockTolerance: 60,
    maxTokenAge: LIFETIME_SECONDS + 60,
    requiredClaims: ['exp', 'iat', 'jti'],
  });
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat > LIFETIME_SECONDS) {
    throw new LinkProofError('the proof lives too long');
  }
  return payload;
}

/** Verifies a link proof with the key it carries: it proves the caller holds the environment key. */
export async function verifyLinkProof(token: unknown, opts: { relayIssuer: string; now: number }) {
  try {
    const { header, payload } = precheckCompactJws(token);
    if (header.jwk || header.jku || header.x5u || header.x5c) throw new LinkProofError('keys in the header are not accepted');
    const environmentId = EnvironmentId.parse(payload.environmentId);
    const environmentPublicKey = Ed25519Jwk.parse(payload.environmentPublicKey);
    const endpoint = z.url({ protocol: /^https?$/ }).max(2048).parse(payload.endpoint);
    await verifyWith(token as string, environmentPublicKey, LINK_TYP, opts.relayIssuer, environmentId, opts.now);
    return { environmentId, environmentPublicKey, endpoint: endpoint.replace(/\/+$/, '') };
  } catch (error) {
    throw new LinkProofError(error instanceof JwsFormatError || error instanceof LinkProofError ? error.message : 'the link proof is invalid');
  }
}

/** Verifies an unlink proof with the key stored for that environment at link time. */
export async function verifyUnlinkProof(token: unknown, opts: { relayIssuer: string; environmentId: string; environmentPublicKey: JWK; now: number }): Promise<void> {
  try {
    const { payload } = precheckCompactJws(token);
    if (payload.environmentId !== opts.environmentId) throw new LinkProofError('the proof names another environment');
    await verifyWith(token as string, opts.environmentPublicKey, UNLINK_TYP, opts.relayIssuer, opts.environmentId, opts.now);
  } catch (error) {
    throw new LinkProofError(error instanceof JwsFormatError || error instanceof LinkProofError ? error.message : 'the unlink proof is invalid');
  }
}

// The environment's link, unlink and tunnel proofs (SPEC §3 step 0, §11): signed by the environment
// key. An environment id is a digest of that key, so a proof for an id is checked against the id too.
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { epochSeconds } from '../common/clock';
import { ENVIRONMENT_ID_PATTERN, environmentIdOfKey } from '../common/environment-id';
import { JwsFormatError, precheckCompactJws } from '../common/jws-precheck';

export const LINK_TYP = 'gatehouse-link+jwt';
export const UNLINK_TYP = 'gatehouse-unlink+jwt';
export const TUNNEL_TYP = 'gatehouse-tunnel+jwt';
const LIFETIME_SECONDS = 300;
const TUNNEL_LIFETIME_SECONDS = 60;

const Ed25519Jwk = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().regex(/^[A-Za-z0-9_-]{43}$/) }).strict();
const EnvironmentId = z.string().regex(ENVIRONMENT_ID_PATTERN);
/** A direct endpoint: an http(s) origin with an optional path; no userinfo, query or fragment (S52). */
const DirectEndpoint = z
  .string()
  .max(2048)
  .refine((raw) => parseDirectEndpoint(raw) !== null, 'must be an http(s) origin with an optional path, without userinfo, query or fragment');

export class LinkProofError extends Error {
  constructor(
    message: string,
    readonly reason: 'invalid_request' | 'environment_id_mismatch' = 'invalid_request',
  ) {
    super(message);
  }
}

/** The normalised direct endpoint, or null when it is not an http(s) origin with an optional path. */
export function parseDirectEndpoint(raw: string): string | null {
  // URL parsing would quietly resolve dot segments and drop an empty query or fragment: refuse them as written.
  if (/[\s#?\\]/.test(raw) || /\/\.{1,2}(\/|$)/.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || !url.hostname) return null;
  if (url.pathname.split('/').some((segment) => segment === '..' || segment === '.' || /%2e|%2f|%5c/i.test(segment))) return null;
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

type SigningKey = Parameters<SignJWT['sign']>[0];

function signEnvProof(key: SigningKey, typ: string, environmentId: string, relayIssuer: string, now: number, claims: Record<string, unknown>, lifetime = LIFETIME_SECONDS): Promise<string> {
  return new SignJWT({ environmentId, ...claims })
    .setProtectedHeader({ alg: 'EdDSA', typ })
    .setIssuer(`env:${environmentId}`)
    .setAudience(relayIssuer)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuedAt(epochSeconds(now))
    .setExpirationTime(epochSeconds(now) + lifetime)
    .sign(key);
}

export function signLinkProof(
  key: SigningKey,
  input: { environmentId: string; environmentPublicKey: JWK; endpoint?: string | undefined; relayIssuer: string; now: number },
): Promise<string> {
  const { kty, crv, x } = input.environmentPublicKey;
  return signEnvProof(key, LINK_TYP, input.environmentId, input.relayIssuer, input.now, { environmentPublicKey: { kty, crv, x }, ...(input.endpoint && { endpoint: input.endpoint }) });
}

/** The proof that opens a tunnel (SPEC §11): single use at the relay, at most 60 s of life. */
export function signTunnelProof(key: SigningKey, input: { environmentId: string; relayIssuer: string; now: number }): Promise<string> {
  return signEnvProof(key, TUNNEL_TYP, input.environmentId, input.relayIssuer, input.now, {}, TUNNEL_LIFETIME_SECONDS);
}

export function signUnlinkProof(key: SigningKey, input: { environmentId: string; relayIssuer: string; now: number }): Promise<string> {
  return signEnvProof(key, UNLINK_TYP, input.environmentId, input.relayIssuer, input.now, {});
}

async function verifyWith(token: string, key: JWK, typ: string, relayIssuer: string, environmentId: string, now: number, lifetime = LIFETIME_SECONDS) {
  const { payload } = await jwtVerify(token, await importJWK({ ...key, alg: 'EdDSA' }, 'EdDSA'), {
    algorithms: ['EdDSA'],
    typ,
    issuer: `env:${environmentId}`,
    audience: relayIssuer,
    currentDate: new Date(now),
    clockTolerance: 60,
    maxTokenAge: lifetime + 60,
    requiredClaims: ['exp', 'iat', 'jti'],
  });
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat > lifetime) {
    throw new LinkProofError('the proof lives too long');
  }
  if (typeof payload.jti !== 'string' || payload.jti.length < 16 || payload.jti.length > 128) throw new LinkProofError('the proof needs a jti of 16 to 128 characters');
  return payload as typeof payload & { jti: string; exp: number };
}

/** Verifies a link proof with the key it carries: it proves the caller holds the environment key. */
export async function verifyLinkProof(token: unknown, opts: { relayIssuer: string; now: number }) {
  try {
    const { header, payload } = precheckCompactJws(token);
    if (header.jwk || header.jku || header.x5u || header.x5c) throw new LinkProofError('keys in the header are not accepted');
    const environmentId = EnvironmentId.parse(payload.environmentId);
    const environmentPublicKey = Ed25519Jwk.parse(payload.environmentPublicKey);
    if (payload.endpoint !== undefined && !DirectEndpoint.safeParse(payload.endpoint).success) {
      throw new LinkProofError('the endpoint must be an http(s) origin with an optional path, without userinfo, query or fragment');
    }
    if ((await environmentIdOfKey(environmentPublicKey)) !== environmentId) {
      throw new LinkProofError('the environment id is not derived from the environment key', 'environment_id_mismatch');
    }
    const verified = await verifyWith(token as string, environmentPublicKey, LINK_TYP, opts.relayIssuer, environmentId, opts.now);
    const endpoint = typeof payload.endpoint === 'string' ? parseDirectEndpoint(payload.endpoint) : null;
    return { environmentId, environmentPublicKey, endpoint, jti: verified.jti, exp: verified.exp };
  } catch (error) {
    throw asProofError(error, 'the link proof is invalid');
  }
}

function asProofError(error: unknown, fallback: string): LinkProofError {
  if (error instanceof LinkProofError) return error;
  return new LinkProofError(error instanceof JwsFormatError ? error.message : fallback);
}

/** Verifies a tunnel proof against the key linked for the id it names (SPEC §11). */
export async function verifyTunnelProof(token: unknown, opts: { relayIssuer: string; now: number; keyOf: (environmentId: string) => Promise<JWK | null> }) {
  try {
    const { header, payload } = precheckCompactJws(token);
    if (header.jwk || header.jku || header.x5u || header.x5c) throw new LinkProofError('keys in the header are not accepted');
    const environmentId = EnvironmentId.parse(payload.environmentId);
    const key = await opts.keyOf(environmentId);
    if (!key) throw new LinkProofError('no environment with this id is linked');
    const verified = await verifyWith(token as string, key, TUNNEL_TYP, opts.relayIssuer, environmentId, opts.now, TUNNEL_LIFETIME_SECONDS);
    return { environmentId, jti: verified.jti, exp: verified.exp };
  } catch (error) {
    throw asProofError(error, 'the tunnel proof is invalid');
  }
}

/** Verifies an unlink proof with the key stored for that environment at link time. */
export async function verifyUnlinkProof(token: unknown, opts: { relayIssuer: string; environmentId: string; environmentPublicKey: JWK; now: number }): Promise<{ jti: string; exp: number }> {
  try {
    const { payload } = precheckCompactJws(token);
    if (payload.environmentId !== opts.environmentId) throw new LinkProofError('the proof names another environment');
    const verified = await verifyWith(token as string, opts.environmentPublicKey, UNLINK_TYP, opts.relayIssuer, opts.environmentId, opts.now);
    return { jti: verified.jti, exp: verified.exp };
  } catch (error) {
    throw asProofError(error, 'the unlink proof is invalid');
  }
}

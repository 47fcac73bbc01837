// The mint request the relay signs and the environment verifies (SPEC §2 "Mint request").
import { z } from 'zod';
import { epochSeconds } from '../common/clock';
import { ClientInfo, clientText, DEVICE_ID_MAX, DeviceType, LABEL_MAX, OS_MAX, SOFTWARE_MAX, InvitePresentation, Thumbprint } from '../../shared/contracts';
import {
  MINT_REQUEST_LIFETIME_SECONDS,
  MINT_REQUEST_TYP,
  MintProtocolError,
  randomToken,
  signMintJws,
  precheckMintJws,
  verifyPrecheckedMintJws,
  type MintJwsRules,
  type MintPublicKey,
  type PrecheckedMintJws,
  type MintSigningKey,
} from './mint-jws';

export const MINT_SCOPE = 'environment:connect';
export const MAX_WAIT_SECONDS = 25;

const EnvironmentId = z.string().min(1).max(128);
const RandomId = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/);

export const MintRequestClaims = z.strictObject({
  iss: z.string().min(1).max(2048),
  aud: z.string().min(1).max(256),
  sub: z.string().min(1).max(256),
  jti: RandomId,
  nonce: RandomId,
  iat: z.int().nonnegative(),
  exp: z.int().nonnegative(),
  environmentId: EnvironmentId,
  clientProofKeyThumbprint: Thumbprint,
  cnf: z.strictObject({ jkt: Thumbprint }),
  scope: z.tuple([z.literal(MINT_SCOPE)]),
  // Normalized again here (S56): the env stores what it verified, whatever a relay let through.
  deviceId: clientText(DEVICE_ID_MAX),
  client: z
    .strictObject({
      label: clientText(LABEL_MAX),
      deviceType: DeviceType.optional(),
      os: clientText(OS_MAX),
      software: clientText(SOFTWARE_MAX),
    })
    .optional(),
  waitSeconds: z.int().min(0).max(MAX_WAIT_SECONDS).optional(),
  /** The client's address as the relay saw it (SPEC §11), signed so the environment may rely on it. */
  source: z.strictObject({ address: z.string().min(1).max(64) }).optional(),
  /** The device's invite (SPEC §13), carried as it presented it; only the environment can check it. */
  invite: InvitePresentation.optional(),
});
export type MintRequestClaims = z.infer<typeof MintRequestClaims>;

export interface MintRequestInput {
  relayIssuer: string;
  environmentId: string;
  accountId: string;
  clientProofKeyThumbprint: string;
  deviceId?: string;
  client?: { label?: string; deviceType?: DeviceType; os?: string; software?: string };
  waitSeconds?: number;
  source?: { address: string };
  invite?: InvitePresentation;
  /** Milliseconds since the epoch. */
  now: number;
}

export const envAudience = (environmentId: string): string => `env:${environmentId}`;

/** Signs a mint request; refuses (invalid_request) to sign anything verifyMintRequest would reject. */
export async function signMintRequest(
  key: MintSigningKey,
  input: MintRequestInput,
): Promise<{ token: string; claims: MintRequestClaims }> {
  const iat = epochSeconds(input.now);
  const client = input.client === undefined ? undefined : ClientInfo.safeParse(input.client);
  if (client && !client.success) throw new MintProtocolError('invalid_request', 'mint request client info is invalid');
  const clientInfo = client?.data && Object.fromEntries(Object.entries(client.data).filter(([, v]) => v !== undefined));
  const candidate = {
    iss: input.relayIssuer,
    aud: envAudience(input.environmentId),
    sub: input.accountId,
    jti: randomToken(),
    nonce: randomToken(),
    iat,
    exp: iat + MINT_REQUEST_LIFETIME_SECONDS,
    environmentId: input.environmentId,
    clientProofKeyThumbprint: input.clientProofKeyThumbprint,
    cnf: { jkt: input.clientProofKeyThumbprint },
    scope: [MINT_SCOPE],
    // Optional members only when present, so the signed JSON carries no nulls or empty objects.
    ...(input.deviceId !== undefined && { deviceId: input.deviceId }),
    ...(clientInfo && Object.keys(clientInfo).length > 0 && { client: clientInfo }),
    ...(input.waitSeconds !== undefined && { waitSeconds: input.waitSeconds }),
    ...(input.source !== undefined && { source: input.source }),
    ...(input.invite !== undefined && { invite: input.invite }),
  };
  const parsed = MintRequestClaims.safeParse(candidate);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.')))].join(', ');
    throw new MintProtocolError('invalid_request', `mint request fields are invalid: ${fields}`);
  }
  const token = await signMintJws(key, MINT_REQUEST_TYP, parsed.data);
  return { token, claims: parsed.data };
}

/** The relay whose mint requests are accepted: its pinned public key and issuer. */
export interface RelayPeer {
  relayPublicKey: MintPublicKey;
  relayIssuer: string;
}

export interface VerifyMintRequestOptions extends RelayPeer {
  environmentId: string;
  /** Milliseconds since the epoch. */
  now: number;
}

const requestRules = (environmentId: string, now: number): MintJwsRules => ({
  typ: MINT_REQUEST_TYP,
  audience: envAudience(environmentId),
  now,
  reason: 'invalid_request',
  what: 'mint request',
});

/** The checks of a mint request that need no key, synchronously; throws MintProtocolError('invalid_request'). */
export function precheckMintRequest(token: unknown, opts: { environmentId: string; now: number }): PrecheckedMintJws {
  return precheckMintJws(token, requestRules(opts.environmentId, opts.now));
}

/** The rest of verifyMintRequest, for a token precheckMintRequest passed. */
export async function verifyPrecheckedMintRequest(prechecked: PrecheckedMintJws, opts: VerifyMintRequestOptions): Promise<MintRequestClaims> {
  const fail = (why: string) => new MintProtocolError('invalid_request', `mint request ${why}`);
  const payload = await verifyPrecheckedMintJws(prechecked, {
    ...requestRules(opts.environmentId, opts.now),
    peer: { key: opts.relayPublicKey, issuer: opts.relayIssuer },
  });
  const parsed = MintRequestClaims.safeParse(payload);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(claims)'))].join(', ');
    throw fail(`has invalid claims: ${fields}`);
  }
  const claims = parsed.data;
  if (claims.aud !== envAudience(opts.environmentId)) throw fail('is for another environment');
  if (claims.environmentId !== opts.environmentId) throw fail('names another environment');
  if (claims.cnf.jkt !== claims.clientProofKeyThumbprint) throw fail('binds a different key than it names');
  return claims;
}

/** The environment's check of a relay mint request; rejects only with MintProtocolError('invalid_request'). */
export async function verifyMintRequest(token: string, opts: VerifyMintRequestOptions): Promise<MintRequestClaims> {
  return verifyPrecheckedMintRequest(precheckMintRequest(token, opts), opts);
}

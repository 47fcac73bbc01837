// The mint response the environment signs and the relay checks field by field (SPEC §2 "Mint response").
import { z } from 'zod';
import { epochSeconds } from '../common/clock';
import { Thumbprint } from '../../shared/contracts';
import {
  MINT_PENDING_LIFETIME_SECONDS,
  MINT_RESPONSE_TYP,
  MintProtocolError,
  randomToken,
  signMintJws,
  verifyMintJws,
  type MintPublicKey,
  type MintSigningKey,
} from './mint-jws';
import { envAudience, type MintRequestClaims } from './mint-request';

/** ISO-8601 UTC with milliseconds, exactly as Date#toISOString writes it. */
const IsoMs = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  .refine((s) => !Number.isNaN(Date.parse(s)) && new Date(s).toISOString() === s);
const ApprovalStatus = z.enum(['pending', 'rejected']);
const Credential = z.string().min(1).max(512);
const MAX_RETRY_AFTER_SECONDS = 3600;

/** The JSON body of POST /api/connect/mint-credential. */
export const MintResponseBody = z.discriminatedUnion('status', [
  z.strictObject({
    status: z.literal('authorized'),
    credential: Credential,
    expiresAt: z.int().positive(),
    proof: z.string(),
  }),
  z.strictObject({
    status: z.literal('pending_approval'),
    approvalStatus: ApprovalStatus,
    requestedAt: IsoMs,
    retryAfterSeconds: z.int().min(0).max(MAX_RETRY_AFTER_SECONDS),
    proof: z.string(),
  }),
]);
export type MintResponseBody = z.infer<typeof MintResponseBody>;

const commonClaims = {
  iss: z.string(),
  aud: z.string(),
  sub: z.string(),
  jti: z.string().min(16).max(128),
  iat: z.int().nonnegative(),
  exp: z.int().nonnegative(),
  environmentId: z.string().min(1).max(128),
  clientProofKeyThumbprint: Thumbprint,
  requestNonce: z.string().min(1).max(128),
};
// Strict and disjoint: an authorized token never carries status, a pending token never a credential.
const AuthorizedClaims = z.strictObject({ ...commonClaims, credential: Credential });
const PendingClaims = z.strictObject({
  ...commonClaims,
  status: z.literal('pending_approval'),
  approvalStatus: ApprovalStatus,
  requestedAt: IsoMs,
});
const MintResponseClaims = z.union([AuthorizedClaims, PendingClaims]);

export type MintDecision =
  | { status: 'authorized'; credential: string; /** ms */ expiresAt: number }
  | { status: 'pending_approval'; approvalStatus: 'pending' | 'rejected'; /** ISO ms */ requestedAt: string };

export interface MintResponseInput {
  environmentId: string;
  relayIssuer: string;
  request: MintRequestClaims;
  decision: MintDecision;
  /** Milliseconds since the epoch. */
  now: number;
}

export async function signMintResponse(key: MintSigningKey, input: MintResponseInput): Promise<string> {
  const { environmentId, request, decision } = input;
  if (request.environmentId !== environmentId) throw new TypeError('mint request is for another environment');
  const iat = epochSeconds(input.now);
  const common = {
    iss: envAudience(environmentId),
    aud: input.relayIssuer,
    sub: environmentId,
    jti: randomToken(),
    iat,
    environmentId,
    clientProofKeyThumbprint: request.clientProofKeyThumbprint,
    requestNonce: request.nonce,
  };
  const claims =
    decision.status === 'authorized'
      ? { ...common, credential: decision.credential, exp: epochSeconds(decision.expiresAt) }
      : {
          ...common,
          status: decision.status,
          approvalStatus: decision.approvalStatus,
          requestedAt: decision.requestedAt,
          exp: iat + MINT_PENDING_LIFETIME_SECONDS,
        };
  // Never sign what the relay would refuse: a bad decision is a bug here, not a response to send.
  if (!MintResponseClaims.safeParse(claims).success || claims.exp <= iat) {
    throw new TypeError('mint response decision is invalid (credential, expiresAt or requestedAt)');
  }
  return signMintJws(key, MINT_RESPONSE_TYP, claims);
}

/** The body the env sends; the same decision feeds the signed proof, so they agree by construction. */
export function mintResponseBody(decision: MintDecision, proof: string, retryAfterSeconds = 5): MintResponseBody {
  if (decision.status === 'authorized') {
    return { status: 'authorized', credential: decision.credential, expiresAt: decision.expiresAt, proof };
  }
  const { approvalStatus, requestedAt } = decision;
  return { status: 'pending_approval', approvalStatus, requestedAt, retryAfterSeconds, proof };
}

export type VerifiedMintResponse =
  | {
      status: 'authorized';
      environmentId: string;
      clientProofKeyThumbprint: string;
      credential: string;
      expiresAt: number;
    }
  | {
      status: 'pending_approval';
      environmentId: string;
      clientProofKeyThumbprint: string;
      approvalStatus: 'pending' | 'rejected';
      requestedAt: string;
      retryAfterSeconds: number;
    };

export interface VerifyMintResponseOptions {
  envPublicKey: MintPublicKey;
  environmentId: string;
  relayIssuer: string;
  request: MintRequestClaims;
  /** Milliseconds since the epoch. */
  now: number;
}

/** The relay's check of an env answer; rejects only with MintProtocolError('endpoint_response_invalid'). */
export async function verifyMintResponse(
  body: unknown,
  opts: VerifyMintResponseOptions,
): Promise<VerifiedMintResponse> {
  const fail = (why: string) => new MintProtocolError('endpoint_response_invalid', `mint response ${why}`);
  const { environmentId, request } = opts;
  if (request.environmentId !== environmentId) throw fail('was checked against a request for another environment');
  const shaped = MintResponseBody.safeParse(body);
  if (!shaped.success) throw fail('body has the wrong shape');
  const answer = shaped.data;
  const payload = await verifyMintJws(answer.proof, {
    peer: { key: opts.envPublicKey, issuer: envAudience(environmentId) },
    typ: MINT_RESPONSE_TYP,
    audience: opts.relayIssuer,
    now: opts.now,
    reason: 'endpoint_response_invalid',
    what: 'mint response proof',
  });
  const parsed = MintResponseClaims.safeParse(payload);
  if (!parsed.success) throw fail('proof has invalid claims');
  const claims = parsed.data;
  if (claims.sub !== environmentId || claims.environmentId !== environmentId) throw fail('is for another environment');
  if (claims.requestNonce !== request.nonce) throw fail('answers another request');
  if (claims.clientProofKeyThumbprint !== request.clientProofKeyThumbprint) throw fail('is for another client key');

  const base = { environmentId, clientProofKeyThumbprint: claims.clientProofKeyThumbprint };
  if (answer.status === 'authorized') {
    if (!('credential' in claims)) throw fail('body and proof disagree on status');
    if (claims.credential !== answer.credential) throw fail('body and proof disagree on credential');
    if (claims.exp !== epochSeconds(answer.expiresAt)) throw fail('body and proof disagree on expiresAt');
    return { status: 'authorized', ...base, credential: answer.credential, expiresAt: answer.expiresAt };
  }
  if (!('status' in claims)) throw fail('body and proof disagree on status');
  if (claims.approvalStatus !== answer.approvalStatus) throw fail('body and proof disagree on approvalStatus');
  if (claims.requestedAt !== answer.requestedAt) throw fail('body and proof disagree on requestedAt');
  return {
    status: 'pending_approval',
    ...base,
    approvalStatus: answer.approvalStatus,
    requestedAt: answer.requestedAt,
    retryAfterSeconds: answer.retryAfterSeconds,
  };
}

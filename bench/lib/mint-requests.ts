// Pre-made mint requests (SPEC §2), signed with the relay's real key before any timing starts.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { MINT_REQUEST_TYP, signMintRequest, type MintRequestClaims } from '../../server/mint/mint-protocol';
import type { Stack } from '../../server/testing/stack';

export const MINT_PATH = '/api/connect/mint-credential';

/** A random, well-formed RFC 7638-shaped thumbprint (43 base64url characters). */
export const randomThumbprint = (): string => randomBytes(32).toString('base64url');

export interface SignOptions {
  thumbprint: (i: number) => string;
  /** What the device says of itself (label, OS, type), as the relay passes it on. */
  client?: (i: number) => { label: string; os?: string; deviceType?: 'desktop' | 'mobile' | 'tablet' };
  deviceId?: (i: number) => string;
  waitSeconds?: number;
  /** Milliseconds since the epoch; defaults to now. */
  now?: number;
}

export async function signRequests(stack: Stack, count: number, opts: SignOptions): Promise<{ token: string; claims: MintRequestClaims }[]> {
  const out: { token: string; claims: MintRequestClaims }[] = [];
  const now = opts.now ?? Date.now();
  for (let i = 0; i < count; i++) {
    out.push(
      await signMintRequest(stack.relay.deps.signingKey.privateKey, {
        relayIssuer: stack.relay.publicUrl,
        environmentId: stack.env.environmentId,
        accountId: 'owner',
        clientProofKeyThumbprint: opts.thumbprint(i),
        ...(opts.client && { client: opts.client(i) }),
        ...(opts.deviceId && { deviceId: opts.deviceId(i) }),
        ...(opts.waitSeconds !== undefined && { waitSeconds: opts.waitSeconds }),
        now,
      }),
    );
  }
  return out;
}

export const bodyOf = (token: string): string => JSON.stringify({ proof: token });

export async function signedBodies(stack: Stack, count: number, opts: SignOptions): Promise<string[]> {
  return (await signRequests(stack, count, opts)).map((r) => bodyOf(r.token));
}

export const INVALID_KINDS = ['bad typ', 'bad alg (HS256)', 'alg none', 'oversized token (12 KB)', 'oversized body (40 KB)', 'stale iat'] as const;

/**
 * Structurally invalid requests, round-robin over INVALID_KINDS. All but `alg none`/HS256 carry a
 * valid relay signature, so only the structural checks can refuse them cheaply.
 */
export async function invalidBodies(stack: Stack, count: number): Promise<string[]> {
  const key = stack.relay.deps.signingKey.privateKey;
  const hmac = new Uint8Array(randomBytes(32));
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const kind = INVALID_KINDS[i % INVALID_KINDS.length]!;
    const stale = kind === 'stale iat';
    const [signed] = await signRequests(stack, 1, { thumbprint: randomThumbprint, ...(stale && { now: Date.now() - 60 * 60_000 }) });
    const payload = signed!.claims as unknown as Record<string, unknown>;
    let token: string;
    switch (kind) {
      case 'bad typ':
        token = await new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).sign(key);
        break;
      case 'bad alg (HS256)':
        token = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: MINT_REQUEST_TYP }).sign(hmac);
        break;
      case 'alg none':
        token = `${b64({ alg: 'none', typ: MINT_REQUEST_TYP })}.${b64(payload)}.`;
        break;
      case 'oversized token (12 KB)':
        token = await new SignJWT({ ...payload, pad: 'x'.repeat(12 * 1024) }).setProtectedHeader({ alg: 'EdDSA', typ: MINT_REQUEST_TYP }).sign(key);
        break;
      case 'oversized body (40 KB)':
        out.push(JSON.stringify({ proof: 'x'.repeat(40 * 1024) }));
        continue;
      case 'stale iat':
        token = signed!.token; // properly signed by the relay, an hour old
        break;
    }
    out.push(bodyOf(token));
  }
  return out;
}

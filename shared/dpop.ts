// RFC 9449 DPoP proof making for every client (CLI, browser /device page). Browser-safe.
import { base64url, SignJWT } from 'jose';
import { jwkThumbprint, publicJwkOf, type EcP256PublicJwk } from './thumbprint';

export const DPOP_TYP = 'dpop+jwt';

export interface DpopSigner {
  privateKey: CryptoKey;
  publicJwk: EcP256PublicJwk;
  thumbprint: string;
}

export interface DpopProofInput {
  htm: string;
  htu: string;
  accessToken?: string;
  nonce?: string;
  /** Milliseconds since the epoch; defaults to the wall clock. */
  now?: number;
  jti?: string;
}

/** A P-256 key pair for ES256 proofs; `extractable: false` keeps the private key inside WebCrypto. */
export async function generateDpopKeyPair(extractable: boolean): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, extractable, ['sign', 'verify']);
}

export async function createDpopSigner(pair: CryptoKeyPair): Promise<DpopSigner> {
  const { privateKey, publicKey } = pair;
  const isP256 = (key: CryptoKey) =>
    key.algorithm.name === 'ECDSA' && (key.algorithm as EcKeyAlgorithm).namedCurve === 'P-256';
  if (privateKey.type !== 'private' || publicKey.type !== 'public' || !isP256(privateKey) || !isP256(publicKey)) {
    throw new TypeError('DPoP keys must be an ECDSA P-256 key pair');
  }
  // Public keys are always exportable in WebCrypto, whatever the pair's `extractable` flag says.
  const publicJwk = publicJwkOf(await crypto.subtle.exportKey('jwk', publicKey));
  if (publicJwk.kty !== 'EC') throw new TypeError('DPoP keys must be an ECDSA P-256 key pair');
  return { privateKey, publicJwk, thumbprint: await jwkThumbprint(publicJwk) };
}

/** base64url(SHA-256(accessToken)), the `ath` claim binding a proof to one token. */
export async function accessTokenHash(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

/** The `htu` form of a URL: the servers compare without query or fragment. */
export function htuOf(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

function randomJti(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
}

export async function createDpopProof(signer: DpopSigner, input: DpopProofInput): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: input.jti ?? randomJti(),
    htm: input.htm,
    htu: htuOf(input.htu),
  };
  if (input.accessToken !== undefined) claims.ath = await accessTokenHash(input.accessToken);
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: DPOP_TYP, jwk: { ...signer.publicJwk } })
    .setIssuedAt(Math.floor((input.now ?? Date.now()) / 1000))
    .sign(signer.privateKey);
}

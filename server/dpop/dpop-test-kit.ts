// Real keys and hand-built proofs for the verifier tests: every header and claim can be bent.
import { base64url, exportJWK, generateKeyPair } from 'jose';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../shared/dpop';
import { publicJwkOf } from '../../shared/thumbprint';

export const ENDPOINT = 'https://env.example:4100/oauth/token';
export const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
export const NOW_S = NOW / 1000;

export type Json = Record<string, unknown>;

export interface TestKey {
  alg: 'ES256' | 'EdDSA' | 'Ed25519';
  privateKey: CryptoKey;
  publicJwk: Json;
  privateJwk: Json;
}

export async function es256Key(): Promise<TestKey & { signer: DpopSigner }> {
  const pair = await generateDpopKeyPair(true);
  const signer = await createDpopSigner(pair);
  return {
    alg: 'ES256',
    privateKey: pair.privateKey,
    publicJwk: { ...signer.publicJwk },
    privateJwk: { ...(await exportJWK(pair.privateKey)) },
    signer,
  };
}

export async function ed25519Key(): Promise<TestKey> {
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)) };
  return { alg: 'EdDSA', privateKey, publicJwk: { ...publicJwkOf(privateJwk) }, privateJwk };
}

export const b64 = (text: string): string => base64url.encode(new TextEncoder().encode(text));

/** Signs exactly the JSON text given, so duplicates, odd types and odd headers reach the verifier. */
export async function signRaw(
  header: Json | string,
  payload: Json | string,
  key: CryptoKey,
  alg: 'ES256' | 'EdDSA' | 'Ed25519' = 'ES256',
): Promise<string> {
  const text = (part: Json | string) => (typeof part === 'string' ? part : JSON.stringify(part));
  const input = `${b64(text(header))}.${b64(text(payload))}`;
  const params = alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
  const signature = await crypto.subtle.sign(params, key, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

export function header(key: TestKey, overrides: Json = {}): Json {
  return { typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...overrides };
}

export function claims(overrides: Json = {}): Json {
  return { jti: 'jti-0123456789abcdef', htm: 'POST', htu: ENDPOINT, iat: NOW_S, ...overrides };
}

/** A proof that passes every check unless bent by the overrides (an `undefined` value removes a member). */
export async function proofWith(key: TestKey, claimOverrides: Json = {}, headerOverrides: Json = {}): Promise<string> {
  const strip = (o: Json) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return signRaw(strip(header(key, headerOverrides)), strip(claims(claimOverrides)), key.privateKey, key.alg);
}

export const verifyOptions = { method: 'POST', url: ENDPOINT, now: NOW };

// Key continuity (SPEC §13): the proof a client signs with its NEW key to move its approval to it.
import { SignJWT } from 'jose';
import type { DpopSigner } from './dpop';

export const KEY_ROTATION_TYP = 'gatehouse-key-rotation+jwt';

function randomJti(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Signed by `newKey`, naming the environment and the key it replaces. */
export function createKeyRotationProof(newKey: DpopSigner, claims: { environmentId: string; oldThumbprint: string; now?: number; jti?: string }): Promise<string> {
  return new SignJWT({ environmentId: claims.environmentId, oldThumbprint: claims.oldThumbprint, jti: claims.jti ?? randomJti() })
    .setProtectedHeader({ alg: 'ES256', typ: KEY_ROTATION_TYP, jwk: { ...newKey.publicJwk } })
    .setIssuedAt(Math.floor((claims.now ?? Date.now()) / 1000))
    .sign(newKey.privateKey);
}

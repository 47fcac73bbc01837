// A software WebAuthn authenticator for service tests: a P-256 key, "none" attestation, a signature
// counter, and user verification flagged as done. Enough for @simplewebauthn/server to check
// everything real (origin, RP id, challenge, signature, counter) without a browser.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64u = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64url');

export interface SoftAuthenticator {
  credentialId: string;
  counter: number;
  register(options: { challenge: string }, origin: string, over?: { rpId?: string; uv?: boolean }): unknown;
  assert(options: { challenge: string }, origin: string, over?: { rpId?: string; uv?: boolean; counter?: number; challenge?: string }): unknown;
}

function flags(uv: boolean, attested: boolean): number {
  return 0x01 | (uv ? 0x04 : 0) | (attested ? 0x40 : 0);
}

export function softAuthenticator(): SoftAuthenticator {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const credId = randomBytes(16);
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
  const state = { counter: 0 };
  const rpHash = (rpId: string) => createHash('sha256').update(rpId).digest();
  const counterBytes = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const clientData = (type: string, challenge: string, origin: string) => Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  const signWith = (key: KeyObject, data: Buffer) => sign('sha256', data, key);
  return {
    credentialId: b64u(credId),
    get counter() {
      return state.counter;
    },
    register(options, origin, over = {}) {
      const authData = Buffer.concat([
        rpHash(over.rpId ?? new URL(origin).hostname),
        Buffer.from([flags(over.uv ?? true, true)]),
        counterBytes(0),
        Buffer.alloc(16),
        Buffer.from([0, credId.length]),
        credId,
        Buffer.from(cose),
      ]);
      const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
      return {
        id: b64u(credId),
        rawId: b64u(credId),
        type: 'public-key',
        response: { clientDataJSON: b64u(clientData('webauthn.create', options.challenge, origin)), attestationObject: b64u(attestationObject), transports: ['internal'] },
        clientExtensionResults: {},
      };
    },
    assert(options, origin, over = {}) {
      state.counter = over.counter ?? state.counter + 1;
      const authData = Buffer.concat([rpHash(over.rpId ?? new URL(origin).hostname), Buffer.from([flags(over.uv ?? true, false)]), counterBytes(state.counter)]);
      const cd = clientData('webauthn.get', over.challenge ?? options.challenge, origin);
      const signature = signWith(privateKey, Buffer.concat([authData, createHash('sha256').update(cd).digest()]));
      return {
        id: b64u(credId),
        rawId: b64u(credId),
        type: 'public-key',
        response: { clientDataJSON: b64u(cd), authenticatorData: b64u(authData), signature: b64u(signature) },
        clientExtensionResults: {},
      };
    },
  };
}

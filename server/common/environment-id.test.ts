import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base32Lower, environmentIdOfHostLabel, environmentIdOfKey, hostLabelOf, isEnvironmentId } from './environment-id';

// An independent computation: canonical JSON by hand, Node's own SHA-256, base32 by the RFC's bit rule.
function referenceId(x: string): string {
  const digest = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest();
  const bits = [...digest].map((b) => b.toString(2).padStart(8, '0')).join('');
  let out = '';
  for (let i = 0; i + 5 <= bits.length && out.length < 26; i += 5) out += 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(bits.slice(i, i + 5), 2)];
  return `env_${out}`;
}

describe('self-certifying environment ids (SPEC §11)', () => {
  it('base32 follows RFC 4648 test vectors (lower case, no padding)', () => {
    const enc = (s: string) => base32Lower(new TextEncoder().encode(s));
    expect([enc(''), enc('f'), enc('fo'), enc('foo'), enc('foob'), enc('fooba'), enc('foobar')]).toEqual(['', 'my', 'mzxq', 'mzxw6', 'mzxw6yq', 'mzxw6ytb', 'mzxw6ytboi']);
  });

  it('matches an independent derivation for random keys, and ignores kid/alg/use', async () => {
    for (let i = 0; i < 20; i++) {
      const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
      const id = await environmentIdOfKey({ ...jwk, kid: 'whatever', alg: 'EdDSA', use: 'sig' });
      expect(id).toBe(referenceId(jwk.x!));
      expect(isEnvironmentId(id)).toBe(true);
      expect(environmentIdOfHostLabel(hostLabelOf(id))).toBe(id);
    }
  });

  it('refuses keys that are not Ed25519 and labels that are not an id', async () => {
    await expect(environmentIdOfKey({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' })).rejects.toThrow();
    expect(environmentIdOfHostLabel('ABC')).toBeNull();
    expect(environmentIdOfHostLabel('a'.repeat(27))).toBeNull();
    expect(isEnvironmentId('env_' + 'a'.repeat(25) + '1')).toBe(false);
  });
});

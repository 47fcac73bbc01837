// SPEC §2: the first 40 bits of SHA-256(thumbprint) as eight 5-bit groups, written XXXX-XXXX.
export const CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

export function verificationCodeFromDigest(digest: Uint8Array): string {
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(digest[i] ?? 0);
  let out = '';
  for (let group = 7; group >= 0; group--) {
    out += CODE_ALPHABET[Number((bits >> BigInt(group * 5)) & 31n)];
    if (group === 4) out += '-';
  }
  return out;
}

export async function verificationCode(thumbprint: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(thumbprint));
  return verificationCodeFromDigest(new Uint8Array(digest));
}

// Invites (SPEC §13): the URL a device opens and the proof it presents. WebCrypto only, so the CLI
// and the browser /device page compute the same proof.
import { base64url } from 'jose';

export const INVITE_ID = /^inv_[A-Za-z0-9_-]{16,64}$/;
export const INVITE_SECRET = /^[A-Za-z0-9_-]{43}$/;

export interface InviteSecret {
  inviteId: string;
  secret: string;
}

/** proof = base64url(HMAC-SHA256(key = the secret's 32 decoded bytes, message = the key thumbprint)). */
export async function inviteProof(secret: string, thumbprint: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(base64url.decode(secret)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(thumbprint));
  return base64url.encode(new Uint8Array(mac));
}

/** The invite in a URL's fragment (`#invite=<id>.<secret>&env=…&relay=…`), or null. */
export function readInviteFragment(hash: string): (InviteSecret & { environmentId: string | null; relayUrl: string | null }) | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const [inviteId, secret, ...rest] = (params.get('invite') ?? '').split('.');
  if (!inviteId || !secret || rest.length > 0 || !INVITE_ID.test(inviteId) || !INVITE_SECRET.test(secret)) return null;
  return { inviteId, secret, environmentId: params.get('env'), relayUrl: params.get('relay') };
}

export function inviteFragment(invite: InviteSecret & { environmentId?: string | null; relayUrl?: string | null }): string {
  const params = new URLSearchParams({ invite: `${invite.inviteId}.${invite.secret}` });
  if (invite.environmentId) params.set('env', invite.environmentId);
  if (invite.relayUrl) params.set('relay', invite.relayUrl);
  return `#${params.toString()}`;
}

// Webhook signing secrets (S61): shown once, stored sealed (AES-256-GCM) with a key kept in a 0600
// file beside the database, so a database dump alone cannot forge a delivery.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readTextIfExists, writeSecretFile } from '../../common/files';

export const webhookKeyFile = (dataDir: string) => join(dataDir, 'webhook-key');

/** The sealing key of this data directory, created once. */
export function loadOrCreateWebhookKey(file: string): Buffer {
  const existing = readTextIfExists(file)?.trim();
  if (existing) {
    const key = Buffer.from(existing, 'base64url');
    if (key.length !== 32 || !/^[A-Za-z0-9_-]{43}$/.test(existing)) {
      throw new Error(`The webhook key in ${file} is malformed. Delete it and restart the environment; then remove and add your webhooks again.`);
    }
    return key;
  }
  const key = randomBytes(32);
  writeSecretFile(file, `${key.toString('base64url')}\n`);
  return key;
}

/** A Standard Webhooks secret: `whsec_` and 32 random bytes, base64. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/** `v1.<iv>.<ciphertext+tag>`, bound to the webhook id so a sealed secret cannot be moved to another row. */
export function sealSecret(key: Buffer, webhookId: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(webhookId, 'utf8'));
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `v1.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
}

/** The secret, or null when the sealed value is malformed, tampered, moved or sealed with another key. */
export function openSecret(key: Buffer, webhookId: string, sealed: string): string | null {
  const [v, ivText, bodyText, extra] = sealed.split('.');
  if (v !== 'v1' || !ivText || !bodyText || extra !== undefined) return null;
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== 12 || body.length < 17) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(webhookId, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

// The owner's passkeys (SPEC §14, S60) with @simplewebauthn/server: registration, sign-in, step-up,
// list, rename, remove. Every challenge is single-use, short-lived, and bound to its purpose (and,
// for registration and step-up, to the owner session that asked); the library checks origin, RP id,
// user verification and the signature counter.
import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport as AuthenticatorTransportFuture,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import type { AuditActor } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { randomToken, sha256Hex } from '../../common/secrets';
import { recordAudit } from '../audit/audit.service';
import { ownerPasskeys, ownerSessions, ownerWebauthnChallenges } from '../db/schema';
import type { EnvDeps } from '../deps';
import { OWNER_SCOPES, OWNER_SESSION_TTL_MS } from './owner-auth.service';

export const CHALLENGE_TTL_MS = 5 * 60 * 1000;
const MAX_PASSKEYS = 20;
export const PASSKEY_NAME_MAX = 64;
type Purpose = 'register' | 'login' | 'step_up';

export const PasskeyName = z.string().trim().min(1).max(PASSKEY_NAME_MAX);
/** What a browser sends back: the library's JSON shapes, bounded so a huge body is refused before parsing crypto. */
const b64 = z.string().max(4096).regex(/^[A-Za-z0-9_-]*={0,2}$/);
export const RegistrationResponse = z.object({
  id: b64,
  rawId: b64,
  type: z.literal('public-key'),
  response: z.object({ clientDataJSON: b64, attestationObject: z.string().max(16384), transports: z.array(z.string().max(32)).max(8).optional() }).passthrough(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
});
export const AuthenticationResponse = z.object({
  id: b64,
  rawId: b64,
  type: z.literal('public-key'),
  response: z.object({ clientDataJSON: b64, authenticatorData: b64, signature: b64, userHandle: b64.optional() }).passthrough(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
});

export interface RelyingParty {
  /** The environment's own origin: owner pages live only there. */
  origin: string;
}
const rpIdOf = (rp: RelyingParty) => new URL(rp.origin).hostname;

const refused = (why: string) => new DomainError('unauthorized', 'invalid_grant', `The passkey was not accepted: ${why}. Try again, or sign in with \`gatehouse owner login-url\`.`);

function storeChallenge(deps: EnvDeps, challenge: string, purpose: Purpose, sessionKey: string | null): void {
  const now = deps.clock.now();
  deps.db.transaction((tx) => {
    tx.delete(ownerWebauthnChallenges).where(or(lt(ownerWebauthnChallenges.expiresAt, now), sql`${ownerWebauthnChallenges.usedAt} IS NOT NULL`)).run();
    tx.insert(ownerWebauthnChallenges).values({ challenge, purpose, ownerSessionHash: sessionKey, expiresAt: now + CHALLENGE_TTL_MS }).run();
  });
}

/** The challenge named in clientDataJSON, consumed once: same purpose, same session, not expired, never used. */
function consumeChallenge(deps: EnvDeps, clientDataJSON: string, purpose: Purpose, sessionKey: string | null): string {
  let challenge: unknown;
  try {
    challenge = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
  } catch {
    throw refused('unreadable client data');
  }
  if (typeof challenge !== 'string' || challenge.length > 128) throw refused('unreadable client data');
  const now = deps.clock.now();
  const used = deps.db
    .update(ownerWebauthnChallenges)
    .set({ usedAt: now })
    .where(
      and(
        eq(ownerWebauthnChallenges.challenge, challenge),
        eq(ownerWebauthnChallenges.purpose, purpose),
        sessionKey === null ? isNull(ownerWebauthnChallenges.ownerSessionHash) : eq(ownerWebauthnChallenges.ownerSessionHash, sessionKey),
        isNull(ownerWebauthnChallenges.usedAt),
        gt(ownerWebauthnChallenges.expiresAt, now),
      ),
    )
    .run();
  if (used.changes !== 1) throw refused('the challenge is unknown, expired, already used or not this session’s');
  return challenge;
}

export function hasPasskeys(deps: Pick<EnvDeps, 'db'>): boolean {
  return (deps.db.select({ n: sql<number>`count(*)` }).from(ownerPasskeys).get()?.n ?? 0) > 0;
}

export async function registrationOptions(deps: EnvDeps, rp: RelyingParty, sessionKey: string) {
  const existing = deps.db.select({ id: ownerPasskeys.credentialId, transports: ownerPasskeys.transports }).from(ownerPasskeys).all();
  if (existing.length >= MAX_PASSKEYS) throw new DomainError('conflict', 'conflict', `At most ${MAX_PASSKEYS} passkeys; remove one first.`);
  const options = await generateRegistrationOptions({
    rpName: 'Gatehouse',
    rpID: rpIdOf(rp),
    userName: 'owner',
    userDisplayName: 'Gatehouse owner',
    userID: new TextEncoder().encode('gatehouse-owner'),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.id, ...(c.transports && { transports: c.transports as AuthenticatorTransportFuture[] }) })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
  storeChallenge(deps, options.challenge, 'register', sessionKey);
  return options;
}

/** Stores the new passkey; creating it with user verification also counts as this session's step-up. */
export async function verifyRegistration(deps: EnvDeps, rp: RelyingParty, sessionKey: string, input: { name: string; response: unknown }, actor: AuditActor) {
  const name = PasskeyName.safeParse(input.name);
  if (!name.success) throw new DomainError('bad_request', 'invalid_input', `A passkey name is 1–${PASSKEY_NAME_MAX} characters.`);
  const parsed = RegistrationResponse.safeParse(input.response);
  if (!parsed.success) throw refused('malformed response');
  const response = parsed.data as unknown as RegistrationResponseJSON;
  const expectedChallenge = consumeChallenge(deps, response.response.clientDataJSON, 'register', sessionKey);
  let verification;
  try {
    verification = await verifyRegistrationResponse({ response, expectedChallenge, expectedOrigin: rp.origin, expectedRPID: rpIdOf(rp), requireUserVerification: true });
  } catch {
    throw refused('it did not verify');
  }
  if (!verification.verified) throw refused('it did not verify');
  const { credential, credentialDeviceType, credentialBackedUp, aaguid } = verification.registrationInfo;
  const now = deps.clock.now();
  deps.db.transaction((tx) => {
    if (tx.select({ id: ownerPasskeys.credentialId }).from(ownerPasskeys).where(eq(ownerPasskeys.credentialId, credential.id)).get()) throw new DomainError('conflict', 'conflict', 'That passkey is already registered.');
    tx.insert(ownerPasskeys)
      .values({
        credentialId: credential.id,
        name: name.data,
        publicKey: Buffer.from(credential.publicKey),
        counter: credential.counter,
        transports: credential.transports ?? null,
        deviceType: credentialDeviceType,
        backedUp: credentialBackedUp,
        aaguid,
        createdAt: isoTime(now),
      })
      .run();
    tx.update(ownerSessions).set({ verifiedAt: now }).where(eq(ownerSessions.tokenHash, sessionKey)).run();
    recordAudit(deps.db, now, { actor, action: 'passkey_registered', detail: { passkeyName: name.data } });
  });
  return { credentialId: credential.id, name: name.data };
}

export async function authenticationOptions(deps: EnvDeps, rp: RelyingParty, purpose: 'login' | 'step_up', sessionKey: string | null) {
  if (!hasPasskeys(deps)) throw new DomainError('not_found', 'not_found', 'No passkey is registered yet.');
  const options = await generateAuthenticationOptions({ rpID: rpIdOf(rp), userVerification: 'required' });
  storeChallenge(deps, options.challenge, purpose, sessionKey);
  return options;
}

/** Verifies an assertion for `purpose`; the stored counter and backup state move forward as the library reports. */
async function verifyAssertion(deps: EnvDeps, rp: RelyingParty, purpose: 'login' | 'step_up', sessionKey: string | null, raw: unknown): Promise<void> {
  const parsed = AuthenticationResponse.safeParse(raw);
  if (!parsed.success) throw refused('malformed response');
  const response = parsed.data as unknown as AuthenticationResponseJSON;
  const expectedChallenge = consumeChallenge(deps, response.response.clientDataJSON, purpose, sessionKey);
  const row = deps.db.select().from(ownerPasskeys).where(eq(ownerPasskeys.credentialId, response.id)).get();
  if (!row) throw refused('this passkey is not registered here (was it removed?)');
  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rpIdOf(rp),
      credential: { id: row.credentialId, publicKey: new Uint8Array(row.publicKey), counter: row.counter, ...(row.transports && { transports: row.transports as AuthenticatorTransportFuture[] }) },
      requireUserVerification: true,
    });
  } catch {
    throw refused('it did not verify');
  }
  if (!verification.verified || !verification.authenticationInfo.userVerified) throw refused('it did not verify');
  const info = verification.authenticationInfo;
  deps.db
    .update(ownerPasskeys)
    .set({ counter: info.newCounter, backedUp: info.credentialBackedUp, deviceType: info.credentialDeviceType, lastUsedAt: isoTime(deps.clock.now()) })
    .where(eq(ownerPasskeys.credentialId, row.credentialId))
    .run();
}

/** Sign-in with a passkey: a new owner session, verified now. */
export async function loginWithPasskey(deps: EnvDeps, rp: RelyingParty, response: unknown): Promise<{ token: string; expiresAt: number }> {
  await verifyAssertion(deps, rp, 'login', null, response);
  const token = randomToken();
  const now = deps.clock.now();
  const expiresAt = now + OWNER_SESSION_TTL_MS;
  deps.db.insert(ownerSessions).values({ tokenHash: sha256Hex(token), scopes: OWNER_SCOPES.join(' '), createdAt: now, expiresAt, verifiedAt: now }).run();
  return { token, expiresAt };
}

/** Step-up: this session verified the owner just now. */
export async function stepUp(deps: EnvDeps, rp: RelyingParty, sessionKey: string, response: unknown): Promise<{ verifiedAt: string }> {
  await verifyAssertion(deps, rp, 'step_up', sessionKey, response);
  const now = deps.clock.now();
  const updated = deps.db.update(ownerSessions).set({ verifiedAt: now }).where(eq(ownerSessions.tokenHash, sessionKey)).run();
  if (updated.changes !== 1) throw refused('this owner session has ended');
  return { verifiedAt: isoTime(now) };
}

export function listPasskeys(deps: Pick<EnvDeps, 'db'>) {
  return deps.db
    .select({ credentialId: ownerPasskeys.credentialId, name: ownerPasskeys.name, createdAt: ownerPasskeys.createdAt, lastUsedAt: ownerPasskeys.lastUsedAt, backedUp: ownerPasskeys.backedUp, deviceType: ownerPasskeys.deviceType })
    .from(ownerPasskeys)
    .orderBy(ownerPasskeys.createdAt)
    .all();
}

const noPasskey = () => new DomainError('not_found', 'not_found', 'No passkey with that id.');

export function renamePasskey(deps: EnvDeps, credentialId: string, name: string, actor: AuditActor) {
  const parsed = PasskeyName.safeParse(name);
  if (!parsed.success) throw new DomainError('bad_request', 'invalid_input', `A passkey name is 1–${PASSKEY_NAME_MAX} characters.`);
  const now = deps.clock.now();
  return deps.db.transaction((tx) => {
    const row = tx.select().from(ownerPasskeys).where(eq(ownerPasskeys.credentialId, credentialId)).get();
    if (!row) throw noPasskey();
    tx.update(ownerPasskeys).set({ name: parsed.data }).where(eq(ownerPasskeys.credentialId, credentialId)).run();
    recordAudit(deps.db, now, { actor, action: 'passkey_renamed', detail: { from: row.name, to: parsed.data } });
    return { credentialId, name: parsed.data };
  });
}

export function removePasskey(deps: EnvDeps, credentialId: string, actor: AuditActor) {
  const now = deps.clock.now();
  return deps.db.transaction((tx) => {
    const row = tx.delete(ownerPasskeys).where(eq(ownerPasskeys.credentialId, credentialId)).returning().get();
    if (!row) throw noPasskey();
    recordAudit(deps.db, now, { actor, action: 'passkey_removed', detail: { passkeyName: row.name } });
    return { removed: true as const };
  });
}

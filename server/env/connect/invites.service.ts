// Invites (SPEC §13, S58): pre-approved pairing of exactly one key. The secret is shown once; the
// device proves it holds it with an HMAC over its own key's thumbprint, so a proof works only for
// the key it names, once, before the invite expires or is revoked.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { AuditActor, InviteCreated, InvitePresentation, OpenInvite } from '../../../shared/contracts';
import { inviteFragment } from '../../../shared/invite';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { randomToken } from '../../common/secrets';
import { recordAudit } from '../audit/audit.service';
import type { EnvDb } from '../db/database';
import { connectClients, connectInvites, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
import { readRelayLink } from '../link/link.service';

/** One refusal for unknown, used, expired, revoked and wrong-key invites: nothing says which (S58). */
export function inviteRefused(): DomainError {
  return new DomainError('forbidden', 'invite_invalid', 'This invite cannot be used: it may have expired, been used or been revoked. Ask the owner for a new one.');
}

/** Open invites at most at once: each is a live credential. */
export const MAX_OPEN_INVITES = 50;

export function createInvite(deps: EnvDeps, input: { label?: string | undefined; expiresInSeconds: number }, actor: AuditActor, where: { environmentId: string; publicUrl: string }): InviteCreated {
  const now = deps.clock.now();
  const inviteId = `inv_${randomToken(16)}`;
  const secret = randomToken(32);
  const expiresAt = isoTime(now + input.expiresInSeconds * 1000);
  const label = input.label ?? null;
  deps.db.transaction(
    (tx) => {
      const open = tx.select({ n: sql<number>`count(*)` }).from(connectInvites).where(openAt(now)).get()?.n ?? 0;
      if (open >= MAX_OPEN_INVITES) throw new DomainError('too_many_requests', 'rate_limited', `At most ${MAX_OPEN_INVITES} invites can be open at once; revoke some first.`);
      tx.insert(connectInvites).values({ inviteId, label, secret, createdAt: isoTime(now), expiresAt, createdBy: actor }).run();
      recordAudit(deps.db, now, { actor, action: 'invite_created', detail: { inviteId, label, expiresAt } });
    },
    { behavior: 'immediate' },
  );
  // Through the relay's page origin for this environment when it has one, so a phone anywhere can open it.
  const link = readRelayLink(deps);
  const origin = (link?.deviceOrigin ?? where.publicUrl).replace(/\/+$/, '');
  const url = `${origin}/device${inviteFragment({ inviteId, secret, environmentId: where.environmentId, relayUrl: link?.relayUrl ?? null })}`;
  return { inviteId, secret, url, expiresAt };
}

const openAt = (now: number) => and(isNull(connectInvites.usedAt), isNull(connectInvites.revokedAt), gt(connectInvites.expiresAt, isoTime(now)));

export function listOpenInvites(deps: Pick<EnvDeps, 'db' | 'clock'>): OpenInvite[] {
  return deps.db
    .select({ inviteId: connectInvites.inviteId, label: connectInvites.label, createdAt: connectInvites.createdAt, expiresAt: connectInvites.expiresAt })
    .from(connectInvites)
    .where(openAt(deps.clock.now()))
    .orderBy(asc(connectInvites.expiresAt))
    .all();
}

export function revokeInvite(deps: EnvDeps, inviteId: string, actor: AuditActor): { revoked: true } {
  const now = deps.clock.now();
  deps.db.transaction(
    (tx) => {
      const row = tx.update(connectInvites).set({ revokedAt: isoTime(now) }).where(and(eq(connectInvites.inviteId, inviteId), openAt(now))).returning().get();
      if (!row) throw new DomainError('not_found', 'not_found', `No open invite ${inviteId} (it may have been used, revoked or have expired).`);
      recordAudit(deps.db, now, { actor, action: 'invite_revoked', detail: { inviteId, label: row.label } });
    },
    { behavior: 'immediate' },
  );
  return { revoked: true };
}

export type InviteCheck = { kind: 'valid'; inviteId: string; label: string | null } | { kind: 'already-used-by-this-key' };

/** Checks a presented invite for `thumbprint` inside the mint transaction; throws the one refusal otherwise. */
export function checkInviteInTx(tx: EnvDb, now: number, presented: InvitePresentation, thumbprint: string): InviteCheck {
  const row = tx.select().from(connectInvites).where(eq(connectInvites.inviteId, presented.inviteId)).get();
  // The HMAC is computed whether or not the invite exists, against a throwaway key when it does not.
  const expected = createHmac('sha256', Buffer.from(row?.secret ?? randomToken(32), 'base64url')).update(thumbprint, 'ascii').digest();
  const given = Buffer.from(presented.proof, 'base64url');
  const proofOk = given.length === expected.length && timingSafeEqual(given, expected);
  if (!row || !proofOk || row.revokedAt !== null) throw inviteRefused();
  if (row.usedAt !== null) {
    if (row.usedByThumbprint === thumbprint) return { kind: 'already-used-by-this-key' };
    throw inviteRefused();
  }
  if (Date.parse(row.expiresAt) <= now) throw inviteRefused();
  return { kind: 'valid', inviteId: row.inviteId, label: row.label };
}

/** Approves the client the invite was used by, and marks the invite used by it; in the mint transaction. */
export function joinWithInviteInTx(tx: EnvDb, now: number, invite: { inviteId: string; label: string | null }, row: ConnectClientRow): ConnectClientRow {
  const at = isoTime(now);
  // Conditional on the invite still being unused: of two keys racing, exactly one gets it.
  const used = tx
    .update(connectInvites)
    .set({ usedAt: at, usedByThumbprint: row.clientProofKeyThumbprint })
    .where(and(eq(connectInvites.inviteId, invite.inviteId), isNull(connectInvites.usedAt), isNull(connectInvites.revokedAt)))
    .run();
  if (used.changes !== 1) throw inviteRefused();
  const approved = tx
    .update(connectClients)
    .set({ status: 'approved', approvedAt: at, rejectedAt: null, approvalExpiresAt: null, approvalExpiredAt: null, inviteId: invite.inviteId, requestCount: 0, updatedAt: at, version: sql`${connectClients.version} + 1` })
    .where(and(eq(connectClients.clientProofKeyThumbprint, row.clientProofKeyThumbprint), isNull(connectClients.revokedAt)))
    .returning()
    .get();
  if (!approved) throw new DomainError('internal', 'internal', 'The client row vanished while it joined with an invite.');
  recordAudit(tx, now, { actor: 'invite', action: 'client_joined_with_invite', clientProofKeyThumbprint: row.clientProofKeyThumbprint, detail: { inviteId: invite.inviteId, inviteLabel: invite.label } });
  return approved;
}

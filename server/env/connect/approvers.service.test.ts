// Approver devices (SPEC §13, S59) through the router's shared guard: list, approve (≤ 7 days) and
// reject others; never itself, never the mode, invites, approvers or revoke; revoking it ends it.
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../common/errors';
import { sha256Hex } from '../../common/secrets';
import { listAudit } from '../audit/audit.service';
import { createTestDeps, fakeThumbprint, ownerContext } from '../testing';
import { envRouter } from '../trpc/app-router';
import { approveClient, revokeClient } from './client-decisions.service';
import { decideAsApprover, isApprover } from './approvers.service';
import { openApproverStream } from './approver-events.service';
import { requestClient } from './client-requests.service';
import { createClientSession, findLiveSession, type ClientIdentity } from './client-sessions.service';
import { findActiveClient } from './clients.service';
import { setSecurityMode } from './security-mode.service';

const PHONE = fakeThumbprint(1);
const NEWCOMER = fakeThumbprint(2);
const WEEK = 7 * 86_400;

function setup() {
  const { deps, clock } = createTestDeps();
  setSecurityMode(deps, 'client-approval', 'api');
  for (const t of [PHONE, NEWCOMER]) requestClient(deps, { clientProofKeyThumbprint: t, accountId: 'owner' });
  approveClient(deps, PHONE, 'web');
  const owner = envRouter.createCaller(ownerContext(deps));
  const { token, expiresAt } = createClientSession(deps.db, clock.now(), PHONE, 'owner');
  const identity: ClientIdentity = { clientProofKeyThumbprint: PHONE, accountId: 'owner', scopes: ['environment:use'], expiresAt, sessionTokenHash: sha256Hex(token) };
  // The phone's DPoP session: no owner, a client that authenticates (re-checked as the real one does).
  const phone = envRouter.createCaller(
    ownerContext(deps, {
      owner: null,
      ownerKey: null,
      authenticateClient: async () => {
        if (!findLiveSession(deps.db, identity.sessionTokenHash, clock.now())) throw new DomainError('unauthorized', 'invalid_token', 'session ended');
        return identity;
      },
    }),
  );
  return { deps, clock, owner, phone, identity };
}

describe('approver devices', () => {
  it('a device that is not an approver can call none of it', async () => {
    const { phone } = setup();
    await expect(phone.connect.clients.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(phone.connect.clients.approve({ clientProofKeyThumbprint: NEWCOMER, expiresInSeconds: 3600 })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('the owner makes it an approver (audited); it lists, approves for ≤ 7 days and rejects others, as actor approver', async () => {
    const { deps, owner, phone } = setup();
    await owner.connect.clients.setApprover({ clientProofKeyThumbprint: PHONE, approver: true });
    expect(listAudit(deps, { limit: 1 })[0]).toMatchObject({ actor: 'api', action: 'approver_set', clientProofKeyThumbprint: PHONE, detail: { approver: true } });
    expect((await phone.connect.clients.list()).items.map((c) => c.clientProofKeyThumbprint).sort()).toEqual([PHONE, NEWCOMER].sort());
    await expect(phone.connect.clients.approve({ clientProofKeyThumbprint: NEWCOMER })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(phone.connect.clients.approve({ clientProofKeyThumbprint: NEWCOMER, expiresInSeconds: WEEK + 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const { client } = await phone.connect.clients.approve({ clientProofKeyThumbprint: NEWCOMER, expiresInSeconds: WEEK });
    expect(client).toMatchObject({ status: 'approved', approvalExpiresAt: new Date(deps.clock.now() + WEEK * 1000).toISOString() });
    expect(listAudit(deps, { limit: 1 })[0]).toMatchObject({ actor: 'approver', action: 'client_approved', clientProofKeyThumbprint: NEWCOMER });
    expect((await phone.connect.clients.reject({ clientProofKeyThumbprint: NEWCOMER })).client.status).toBe('rejected');
  });

  it('S59: never itself, never mode, invites, approvers, revoke, lockdown or audit', async () => {
    const { deps, owner, phone } = setup();
    await owner.connect.clients.setApprover({ clientProofKeyThumbprint: PHONE, approver: true });
    await expect(phone.connect.clients.approve({ clientProofKeyThumbprint: PHONE, expiresInSeconds: 3600 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(phone.connect.clients.reject({ clientProofKeyThumbprint: PHONE })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const refused = [
      () => phone.connect.securityMode.set({ mode: 'account' }),
      () => phone.connect.invites.create({ expiresInSeconds: 600 }),
      () => phone.connect.invites.list(),
      () => phone.connect.clients.setApprover({ clientProofKeyThumbprint: NEWCOMER, approver: true }),
      () => phone.connect.clients.revoke({ clientProofKeyThumbprint: NEWCOMER }),
      () => phone.connect.lockdown.set({ until: null }),
      () => phone.connect.audit.list({}),
    ];
    for (const call of refused) await expect(call()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(findActiveClient(deps.db, PHONE)).toMatchObject({ status: 'approved', approver: true });
    expect(findActiveClient(deps.db, NEWCOMER)).toMatchObject({ status: 'pending', approver: false });
  });

  it('revoking the approver ends its sessions and its rights; approve-by-approver ∥ owner revoke of the approver: the revoke wins', async () => {
    const { deps, owner, phone, identity } = setup();
    await owner.connect.clients.setApprover({ clientProofKeyThumbprint: PHONE, approver: true });
    const approving = phone.connect.clients.approve({ clientProofKeyThumbprint: NEWCOMER, expiresInSeconds: 3600 });
    revokeClient(deps, PHONE, 'web'); // lands while the approver's request is being authenticated
    await expect(approving).rejects.toBeDefined();
    expect(findActiveClient(deps.db, NEWCOMER)?.status).toBe('pending');
    expect(findLiveSession(deps.db, identity.sessionTokenHash, deps.clock.now())).toBeUndefined();
    await expect(phone.connect.clients.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    // Only an approved device can be made an approver.
    await expect(owner.connect.clients.setApprover({ clientProofKeyThumbprint: NEWCOMER, approver: true })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('an approval that has lapsed is no approver from that moment, before the expiry timer has moved the row', async () => {
    const { deps, clock, owner, identity } = setup();
    approveClient(deps, PHONE, 'web', 3600);
    await owner.connect.clients.setApprover({ clientProofKeyThumbprint: PHONE, approver: true });
    // Its session was authenticated a moment before the end (the real check ends the session itself at
    // the end): what follows is up to the approver check alone.
    const phone = envRouter.createCaller(ownerContext(deps, { owner: null, ownerKey: null, authenticateClient: async () => identity }));
    expect(isApprover(deps.db, PHONE, clock.now())).toBe(true);
    expect(await phone.client.approver()).toEqual({ approver: true });

    clock.advance(3600 * 1000); // the approval's end, and no timer ran
    expect(findActiveClient(deps.db, PHONE)).toMatchObject({ status: 'approved', approver: true });
    expect(isApprover(deps.db, PHONE, clock.now() - 1)).toBe(true);
    expect(isApprover(deps.db, PHONE, clock.now())).toBe(false);
    expect(await phone.client.approver()).toEqual({ approver: false });
    await expect(phone.connect.clients.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(phone.connect.clients.approve({ clientProofKeyThumbprint: NEWCOMER, expiresInSeconds: 3600 })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(() => decideAsApprover(deps, PHONE, NEWCOMER, 'approve', 3600)).toThrow(/no longer\) an approver/);
    expect(() => openApproverStream(deps, identity, undefined)).toThrow(/no longer\) an approver/);
    expect(findActiveClient(deps.db, NEWCOMER)?.status).toBe('pending');
  });

  it('the decision itself re-checks the approver inside its transaction (a revoke between the guard and the decision wins)', async () => {
    const { deps, owner } = setup();
    await owner.connect.clients.setApprover({ clientProofKeyThumbprint: PHONE, approver: true });
    revokeClient(deps, PHONE, 'web');
    expect(() => decideAsApprover(deps, PHONE, NEWCOMER, 'approve', 3600)).toThrow(/no longer\) an approver/);
    expect(findActiveClient(deps.db, NEWCOMER)?.status).toBe('pending');
  });
});

// An approver's live waiting list (SPEC §13, S59): `client.approvals` carries the other devices that
// wait and the decisions about them, nothing of the owner's, and ends when the right or session ends.
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../common/secrets';
import { createTestDeps, fakeThumbprint } from '../testing';
import { openApproverStream, type ApproverEvent } from './approver-events.service';
import { setApprover } from './approvers.service';
import { approveClient, rejectClient, revokeClient } from './client-decisions.service';
import { requestClient } from './client-requests.service';
import { createClientSession, type ClientIdentity } from './client-sessions.service';
import { setSecurityMode } from './security-mode.service';

const PHONE = fakeThumbprint(1);
const NEWCOMER = fakeThumbprint(2);
const LATER = fakeThumbprint(3);

function setup({ approver = true } = {}) {
  const { deps, clock } = createTestDeps();
  setSecurityMode(deps, 'client-approval', 'api');
  for (const t of [PHONE, NEWCOMER]) requestClient(deps, { clientProofKeyThumbprint: t, accountId: 'owner' });
  approveClient(deps, PHONE, 'web');
  if (approver) setApprover(deps, PHONE, true, 'web');
  const { token, expiresAt } = createClientSession(deps.db, clock.now(), PHONE, 'owner');
  const me: ClientIdentity = { clientProofKeyThumbprint: PHONE, accountId: 'owner', scopes: ['environment:use'], expiresAt, sessionTokenHash: sha256Hex(token) };
  return { deps, clock, me };
}

/** Reads the stream's events as they come; `next()` waits for one (a test fails on a timeout, not a sleep). */
function reader(stream: AsyncGenerator<ApproverEvent>) {
  return { next: async () => (await stream.next()).value as ApproverEvent | undefined, done: async () => (await stream.next()).done };
}

describe('client.approvals (approver stream)', () => {
  it('a device that is not an approver is refused before anything is read', () => {
    const { deps, me } = setup({ approver: false });
    expect(() => openApproverStream(deps, me, undefined)).toThrow(/not \(or no longer\) an approver/);
  });

  it('a snapshot of the others waiting (never itself), then new requests and decisions, without repeats of unrelated rows', async () => {
    const { deps, me } = setup();
    const abort = new AbortController();
    const events = reader(openApproverStream(deps, me, abort.signal));
    const snapshot = await events.next();
    expect(snapshot).toMatchObject({ type: 'snapshot' });
    expect((snapshot as Extract<ApproverEvent, { type: 'snapshot' }>).pending.map((c) => c.clientProofKeyThumbprint)).toEqual([NEWCOMER]);

    requestClient(deps, { clientProofKeyThumbprint: LATER, accountId: 'owner' });
    expect(await events.next()).toMatchObject({ type: 'pending', client: { clientProofKeyThumbprint: LATER, status: 'pending' } });
    approveClient(deps, NEWCOMER, 'web', 3600);
    expect(await events.next()).toEqual({ type: 'decided', clientProofKeyThumbprint: NEWCOMER, outcome: 'approved' });
    // A device it never showed as waiting: nothing (NEWCOMER's rename after its decision is not news).
    revokeClient(deps, NEWCOMER, 'web');
    rejectClient(deps, LATER, 'web');
    expect(await events.next()).toEqual({ type: 'decided', clientProofKeyThumbprint: LATER, outcome: 'rejected' });
    abort.abort();
    expect(await events.done()).toBe(true);
  });

  it('ends the moment the owner takes the right away, and when the approver is revoked', async () => {
    const first = setup();
    const a = reader(openApproverStream(first.deps, first.me, undefined));
    await a.next();
    setApprover(first.deps, PHONE, false, 'web');
    expect(await a.next()).toEqual({ type: 'ended', reason: 'not_approver' });
    expect(await a.done()).toBe(true);

    const second = setup();
    const b = reader(openApproverStream(second.deps, second.me, undefined));
    await b.next();
    revokeClient(second.deps, PHONE, 'web');
    expect(await b.next()).toMatchObject({ type: 'ended' });
    expect(await b.done()).toBe(true);
  });

  it('carries nothing of the owner’s: mode changes are not events here', async () => {
    const { deps, me } = setup();
    const events = reader(openApproverStream(deps, me, undefined));
    await events.next();
    setSecurityMode(deps, 'account', 'api');
    setSecurityMode(deps, 'client-approval', 'api');
    requestClient(deps, { clientProofKeyThumbprint: LATER, accountId: 'owner' });
    // The next event is the request itself: the two mode changes were never sent.
    expect(await events.next()).toMatchObject({ type: 'pending', client: { clientProofKeyThumbprint: LATER } });
  });

  it('at most a few streams per client session', () => {
    const { deps, me } = setup();
    const open = Array.from({ length: 4 }, () => openApproverStream(deps, me, undefined));
    expect(() => openApproverStream(deps, me, undefined)).toThrow(/At most 4/);
    for (const s of open) void s.return(undefined);
  });
});

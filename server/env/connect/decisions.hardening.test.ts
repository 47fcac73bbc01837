// S42: concurrent owner decisions on one client over HTTP end in a well-defined state. Decisions
// are conditional updates in BEGIN IMMEDIATE transactions: approve ∥ revoke either revokes after
// the approval or finds the client gone (NOT_FOUND, per SPEC §5.2 and the S38 note), and a row is
// never approved with revoked_at set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeThumbprint } from '../testing';
import { ownerCall, postMint, signedMintRequest } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
});
afterAll(async () => stack.close());

const ROUNDS = 25;
let next = 700_000;

async function pendingClient(): Promise<string> {
  const thumbprint = fakeThumbprint(next++);
  expect((await postMint(stack, await signedMintRequest(stack, thumbprint))).body?.status).toBe('pending_approval');
  return thumbprint;
}

function rowOf(thumbprint: string) {
  return stack.env.deps.db.$client.prepare('SELECT status, approved_at, rejected_at, revoked_at FROM connect_clients WHERE client_proof_key_thumbprint = ?').get(thumbprint) as {
    status: string;
    approved_at: string | null;
    rejected_at: string | null;
    revoked_at: string | null;
  };
}

function decisionsOf(thumbprint: string): string[] {
  return (stack.env.deps.db.$client.prepare("SELECT action FROM audit_log WHERE client_proof_key_thumbprint = ? AND actor != 'system' ORDER BY id").all(thumbprint) as Array<{ action: string }>).map((r) => r.action);
}

describe('concurrent decisions on one client', () => {
  it(`S42 approve ∥ revoke (${ROUNDS} rounds): revoked either way; the loser gets NOT_FOUND, never a resurrection`, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const t = await pendingClient();
      const input = { clientProofKeyThumbprint: t };
      const [approve, revoke] = await Promise.all([ownerCall(stack, 'connect.clients.approve', input), ownerCall(stack, 'connect.clients.revoke', input)]);
      expect(revoke.status).toBe(200);
      expect([200, 404]).toContain(approve.status);
      const row = rowOf(t);
      expect(row.revoked_at).not.toBeNull();
      expect(row).toMatchObject({ status: 'pending', approved_at: null, rejected_at: null });
      const audit = decisionsOf(t);
      // The audit order is the commit order, and it agrees with the answers.
      expect(audit).toEqual(approve.status === 200 ? ['client_approved', 'client_revoked'] : ['client_revoked']);
      if (approve.status === 404) expect(approve.body).toMatchObject({ error: { data: { code: 'NOT_FOUND' } } });
    }
  });

  it(`S42 approve ∥ reject (${ROUNDS} rounds): both are legal; the last commit wins and the timestamps match it`, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const t = await pendingClient();
      const input = { clientProofKeyThumbprint: t };
      const [approve, reject] = await Promise.all([ownerCall(stack, 'connect.clients.approve', input), ownerCall(stack, 'connect.clients.reject', input)]);
      expect([approve.status, reject.status]).toEqual([200, 200]);
      const last = decisionsOf(t).at(-1);
      const row = rowOf(t);
      if (last === 'client_approved') expect(row).toMatchObject({ status: 'approved', rejected_at: null, revoked_at: null, approved_at: expect.any(String) });
      else expect(row).toMatchObject({ status: 'rejected', approved_at: null, revoked_at: null, rejected_at: expect.any(String) });
    }
  });

  it('S38 S42 revoke ∥ revoke: exactly one succeeds, the other is NOT_FOUND', async () => {
    for (let i = 0; i < 10; i++) {
      const t = await pendingClient();
      const results = await Promise.all([1, 2, 3].map(() => ownerCall(stack, 'connect.clients.revoke', { clientProofKeyThumbprint: t })));
      expect(results.map((r) => r.status).sort()).toEqual([200, 404, 404]);
      expect(decisionsOf(t)).toEqual(['client_revoked']);
    }
  });

  it('S25 S38 rejection is not a blocklist: the same device with a new key is a fresh pending client; the rejected key stays rejected', async () => {
    const rejected = await pendingClient();
    expect((await ownerCall(stack, 'connect.clients.reject', { clientProofKeyThumbprint: rejected })).status).toBe(200);
    expect((await postMint(stack, await signedMintRequest(stack, rejected, { deviceId: 'laptop-1' }))).body).toMatchObject({ status: 'pending_approval', approvalStatus: 'rejected' });
    const newKey = fakeThumbprint(next++);
    expect((await postMint(stack, await signedMintRequest(stack, newKey, { deviceId: 'laptop-1' }))).body).toMatchObject({ status: 'pending_approval', approvalStatus: 'pending' });
    expect(rowOf(newKey)).toMatchObject({ status: 'pending', revoked_at: null });
  });
});

// Invites (SPEC §13, S58) on the injected clock: one key, once, before it expires, unless revoked;
// every other use gets the same refusal, whether or not the invite exists.
import { TRPCError } from '@trpc/server';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOCKDOWN_INDEFINITE } from '../../../shared/contracts';
import { inviteProof, readInviteFragment } from '../../../shared/invite';
import { listAudit } from '../audit/audit.service';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, ownerContext, type RelayTestKey } from '../testing';
import { envRouter } from '../trpc/app-router';
import { findActiveClient } from './clients.service';
import { rejectClient } from './client-decisions.service';
import { setSecurityMode } from './security-mode.service';
import { setLockdown } from './lockdown.service';

const A = fakeThumbprint(1);
const B = fakeThumbprint(2);
const REFUSAL = { kind: 'forbidden', reason: 'invite_invalid', message: 'This invite cannot be used: it may have expired, been used or been revoked. Ask the owner for a new one.' };

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup() {
  const env = createLinkedMintEnv(relayKey, { relayIssuer: 'https://relay.invite.test', environmentId: 'env_invite', accountId: 'owner' });
  env.deps.publicUrl = () => 'http://127.0.0.1:4100';
  setSecurityMode(env.deps, 'client-approval', 'api');
  const caller = envRouter.createCaller(ownerContext(env.deps, { environmentId: 'env_invite' }));
  const join = async (thumbprint: string, invite: { inviteId: string; proof: string }) => env.mint.mint(await env.sign(thumbprint, { invite }), new AbortController().signal);
  const create = (over: { label?: string; expiresInSeconds?: number } = {}) => caller.connect.invites.create({ label: 'for the kitchen', expiresInSeconds: 600, ...over });
  return { ...env, caller, join, create };
}

describe('invites', () => {
  it('create returns a /device URL with the secret in its fragment; the secret is never listed; audit invite_created', async () => {
    const env = setup();
    const invite = await env.create();
    expect(invite.inviteId).toMatch(/^inv_/);
    const url = new URL(invite.url);
    expect(url.origin + url.pathname).toBe('http://127.0.0.1:4100/device');
    expect(url.search).toBe('');
    expect(readInviteFragment(url.hash)).toEqual({ inviteId: invite.inviteId, secret: invite.secret, environmentId: 'env_invite', relayUrl: 'https://relay.invite.test' });
    expect(invite.expiresAt).toBe(new Date(env.clock.now() + 600_000).toISOString());
    const listed = await env.caller.connect.invites.list();
    expect(listed).toEqual([{ inviteId: invite.inviteId, label: 'for the kitchen', createdAt: expect.any(String), expiresAt: invite.expiresAt }]);
    expect(JSON.stringify(listed)).not.toContain(invite.secret);
    expect(listAudit(env.deps, { limit: 1 })[0]).toMatchObject({ actor: 'api', action: 'invite_created', detail: { inviteId: invite.inviteId, label: 'for the kitchen' } });
    expect(JSON.stringify(listAudit(env.deps))).not.toContain(invite.secret);
  });

  it('a device with the right proof is approved at once (actor invite), even while new devices are paused; the invite is then used', async () => {
    const env = setup();
    const invite = await env.create();
    setLockdown(env.deps, LOCKDOWN_INDEFINITE, 'api');
    const answer = await env.join(A, { inviteId: invite.inviteId, proof: await inviteProof(invite.secret, A) });
    expect(answer.status).toBe('authorized');
    expect(findActiveClient(env.deps.db, A)).toMatchObject({ status: 'approved', inviteId: invite.inviteId });
    expect(listAudit(env.deps, { limit: 1 })[0]).toMatchObject({ actor: 'invite', action: 'client_joined_with_invite', clientProofKeyThumbprint: A, detail: { inviteId: invite.inviteId, inviteLabel: 'for the kitchen' } });
    expect(await env.caller.connect.invites.list()).toEqual([]);
    // The same key presenting it again (a reload of the invite URL) just connects as the approved client it is.
    expect((await env.join(A, { inviteId: invite.inviteId, proof: await inviteProof(invite.secret, A) })).status).toBe('authorized');
  });

  it('refuses, with one answer and no row, a proof for another key, a used, expired, revoked or unknown invite, and a tampered proof', async () => {
    const env = setup();
    const used = await env.create();
    await env.join(A, { inviteId: used.inviteId, proof: await inviteProof(used.secret, A) });
    const fresh = await env.create();
    const revoked = await env.create();
    await env.caller.connect.invites.revoke({ inviteId: revoked.inviteId });
    const short = await env.create({ expiresInSeconds: 60 });
    const proofB = await inviteProof(fresh.secret, B);
    const tampered = (proofB[0] === 'A' ? 'B' : 'A') + proofB.slice(1);
    const attempts = [
      { inviteId: fresh.inviteId, proof: await inviteProof(fresh.secret, A) }, // a proof made for A, presented for B
      { inviteId: used.inviteId, proof: await inviteProof(used.secret, B) },
      { inviteId: revoked.inviteId, proof: await inviteProof(revoked.secret, B) },
      { inviteId: 'inv_doesnotexist0000000', proof: proofB },
      { inviteId: fresh.inviteId, proof: tampered },
    ];
    for (const invite of attempts) await expect(env.join(B, invite)).rejects.toMatchObject(REFUSAL);
    env.clock.advance(60_000);
    await expect(env.join(B, { inviteId: short.inviteId, proof: await inviteProof(short.secret, B) })).rejects.toMatchObject(REFUSAL);
    expect(findActiveClient(env.deps.db, B)).toBeUndefined();
    // The fresh invite was never consumed by the refusals: B can still use it properly.
    expect((await env.join(B, { inviteId: fresh.inviteId, proof: proofB })).status).toBe('authorized');
  });

  it('two keys using one invite at once: exactly one wins', async () => {
    const env = setup();
    const invite = await env.create();
    const keys = [A, B, fakeThumbprint(3), fakeThumbprint(4)];
    const results = await Promise.allSettled(keys.map(async (t) => env.join(t, { inviteId: invite.inviteId, proof: await inviteProof(invite.secret, t) })));
    const won = results.filter((r) => r.status === 'fulfilled' && r.value.status === 'authorized');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject(REFUSAL);
    const approved = keys.filter((t) => findActiveClient(env.deps.db, t)?.status === 'approved');
    expect(approved).toHaveLength(1);
    expect(listAudit(env.deps).filter((a) => a.action === 'client_joined_with_invite').map((a) => a.clientProofKeyThumbprint)).toEqual(approved);
  });

  it('a rejected device with an invite is approved; revoke of an unknown or used invite is NOT_FOUND; lifetimes beyond 24 h are refused', async () => {
    const env = setup();
    await env.mint.mint(await env.sign(A), new AbortController().signal);
    rejectClient(env.deps, A, 'web');
    const invite = await env.create();
    expect((await env.join(A, { inviteId: invite.inviteId, proof: await inviteProof(invite.secret, A) })).status).toBe('authorized');
    await expect(env.caller.connect.invites.revoke({ inviteId: invite.inviteId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(env.caller.connect.invites.revoke({ inviteId: 'inv_nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    for (const expiresInSeconds of [86_401, 0, 59]) await expect(env.create({ expiresInSeconds })).rejects.toBeInstanceOf(TRPCError);
    expect(listAudit(env.deps).filter((a) => a.action === 'invite_revoked')).toEqual([]);
  });
});

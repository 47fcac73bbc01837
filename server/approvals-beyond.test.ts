// SPEC §13 end to end: a relay, an environment behind its tunnel, real keys and JWTs over 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvClient, fetchWhoAmI } from '../shared/client/connect';
import type { EnvRouter } from './env/trpc/app-router';
import { ConnectionBlockedError, NEW_DEVICES_PAUSED_DETAIL } from '../shared/client/errors';
import { LOCKDOWN_INDEFINITE } from '../shared/contracts';
import { readInviteFragment } from '../shared/invite';
import { approveClient } from './env/connect/client-decisions.service';
import { startStack, type Stack } from './testing/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
});
afterAll(async () => stack.close());

const rowOf = async (thumbprint: string) => (await stack.owner.connect.clients.list.query()).items.find((c) => c.clientProofKeyThumbprint === thumbprint);

describe('approval lifetimes through the tunnel', () => {
  it('the owner approves for a time; the session is capped at its end, and the environment’s own timer ends it and sends the device back to pending', async () => {
    const signer = await stack.newSigner();
    await expect(stack.connect(signer, { wait: false })).rejects.toBeInstanceOf(ConnectionBlockedError);
    const { client } = await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint, expiresInSeconds: 3600 });
    expect(Date.parse(client.approvalExpiresAt!) - Date.now()).toBeLessThanOrEqual(3600_000);
    const session = await stack.connect(signer);
    expect(session.endpoint).toBe(`${stack.relay.publicUrl}/e/${stack.env.environmentId}`);
    expect((await fetchWhoAmI(session, signer)).expiresAt).toBeLessThanOrEqual(Date.parse(client.approvalExpiresAt!));

    // The API's shortest lifetime is a minute; the service takes any, so the real timer is seen firing without waiting a minute.
    const backToPending = new Promise<void>((resolve) => {
      const off = stack.env.deps.bus.subscribe((e) => e.type === 'connectClientUpserted' && e.payload.clientProofKeyThumbprint === signer.thumbprint && e.payload.status === 'pending' && (off(), resolve()));
    });
    approveClient(stack.env.deps, signer.thumbprint, 'api', 1);
    await backToPending;
    expect(await rowOf(signer.thumbprint)).toMatchObject({ status: 'pending', approvalExpiresAt: null, approvalExpiredAt: expect.any(String) });
    await expect(fetchWhoAmI(session, signer)).rejects.toThrow();
    const again = await stack.connect(signer, { wait: false }).catch((e) => e);
    expect(again).toMatchObject({ reason: 'permission', approvalStatus: 'pending' });
    const [entry] = await stack.owner.connect.audit.list.query({ limit: 5 }).then((es) => es.filter((e) => e.action === 'approval_expired'));
    expect(entry).toMatchObject({ actor: 'system', clientProofKeyThumbprint: signer.thumbprint });
  });
});

describe('pause new devices through the tunnel', () => {
  it('a new device is told the environment is not accepting new devices; an approved one connects; turning it off lets new ones ask', async () => {
    const known = await stack.newSigner();
    await stack.connect(known, { wait: false }).catch(() => {});
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: known.thumbprint });
    await stack.owner.connect.lockdown.set.mutate({ until: LOCKDOWN_INDEFINITE });
    try {
      const stranger = await stack.newSigner();
      const refused = await stack.connect(stranger).catch((e) => e); // even a waiting client is answered at once
      expect(refused).toBeInstanceOf(ConnectionBlockedError);
      expect(refused).toMatchObject({ reason: 'permission', detail: NEW_DEVICES_PAUSED_DETAIL, approvalStatus: undefined });
      expect(await rowOf(stranger.thumbprint)).toBeUndefined();
      const session = await stack.connect(known);
      expect((await fetchWhoAmI(session, known)).clientProofKeyThumbprint).toBe(known.thumbprint);
      await stack.owner.connect.lockdown.set.mutate({ until: null });
      expect(await stack.connect(stranger, { wait: false }).catch((e) => e)).toMatchObject({ reason: 'permission', approvalStatus: 'pending' });
    } finally {
      await stack.owner.connect.lockdown.set.mutate({ until: null });
    }
  });
});

describe('invites through the tunnel', () => {
  it('a device with the invite URL connects without an owner decision; a second key with the same URL is refused', async () => {
    const invite = await stack.owner.connect.invites.create.mutate({ label: 'for the kitchen', expiresInSeconds: 600 });
    const fragment = readInviteFragment(new URL(invite.url).hash)!;
    expect(fragment).toMatchObject({ environmentId: stack.env.environmentId, relayUrl: stack.relay.publicUrl });
    const ipad = await stack.newSigner();
    const session = await stack.connect(ipad, { wait: false, invite: fragment, client: { label: 'Kitchen iPad', deviceType: 'tablet' } });
    expect((await fetchWhoAmI(session, ipad)).clientProofKeyThumbprint).toBe(ipad.thumbprint);
    expect(await rowOf(ipad.thumbprint)).toMatchObject({ status: 'approved', client: { label: 'Kitchen iPad' } });
    const [entry] = await stack.owner.connect.audit.list.query({ limit: 1 });
    expect(entry).toMatchObject({ actor: 'invite', action: 'client_joined_with_invite', clientProofKeyThumbprint: ipad.thumbprint, detail: { inviteId: invite.inviteId, inviteLabel: 'for the kitchen' } });
    const thief = await stack.newSigner();
    const refused = await stack.connect(thief, { wait: false, invite: fragment }).catch((e) => e);
    expect(refused).toBeInstanceOf(ConnectionBlockedError);
    expect(refused.detail).toMatch(/This invite cannot be used/);
    expect(await rowOf(thief.thumbprint)).toBeUndefined();
  });
});

describe('approver devices through the tunnel', () => {
  it('an approver phone lists pending devices and approves one for a day; it cannot change the mode', async () => {
    const phone = await stack.newSigner();
    await stack.connect(phone, { wait: false }).catch(() => {});
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: phone.thumbprint });
    await stack.owner.connect.clients.setApprover.mutate({ clientProofKeyThumbprint: phone.thumbprint, approver: true });
    const session = await stack.connect(phone);
    const asPhone = createEnvClient<EnvRouter>(session, phone);
    const newcomer = await stack.newSigner();
    await stack.connect(newcomer, { wait: false }).catch(() => {});
    const pending = (await asPhone.connect.clients.list.query({ status: 'pending' })).items.find((c) => c.clientProofKeyThumbprint === newcomer.thumbprint);
    expect(pending).toMatchObject({ status: 'pending', verificationCode: expect.any(String) });
    await asPhone.connect.clients.approve.mutate({ clientProofKeyThumbprint: newcomer.thumbprint, expiresInSeconds: 86_400 });
    expect(await rowOf(newcomer.thumbprint)).toMatchObject({ status: 'approved', approvalExpiresAt: expect.any(String) });
    await expect(asPhone.connect.securityMode.set.mutate({ mode: 'account' })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect((await fetchWhoAmI(await stack.connect(newcomer), newcomer)).clientProofKeyThumbprint).toBe(newcomer.thumbprint);
  });
});

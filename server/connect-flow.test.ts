// The connect flow end to end: real relay, real environment, real keys and JWTs over 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEnvClient, fetchWhoAmI } from '../shared/client/connect';
import { ConnectionBlockedError, PENDING_DETAIL, REJECTED_DETAIL } from '../shared/client/errors';
import { verificationCode } from '../shared/verification-code';
import type { EnvRouter } from './env/trpc/app-router';
import { startStack, type Stack } from './testing/stack';
import { createTRPCClient, httpSubscriptionLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { dpopFetch } from '../shared/client/dpop-fetch';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

/** Counts relay `environments.connect` calls a client makes. */
function countingFetch() {
  const calls: string[] = [];
  const wrapped: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.includes('/trpc/environments.connect')) calls.push(url);
    return fetch(input, init);
  };
  return { calls, fetch: wrapped };
}

describe('account mode', () => {
  it('a signed-in client gets a credential, redeems it, and calls client.whoami', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    const signer = await stack.newSigner();
    const session = await stack.connect(signer);
    expect(session.endpoint).toBe(`${stack.relay.publicUrl}/e/${stack.env.environmentId}`); // through the tunnel
    const whoami = await fetchWhoAmI(session, signer);
    expect(whoami).toMatchObject({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: signer.thumbprint, scopes: ['environment:use'] });
    expect((await stack.owner.connect.clients.list.query()).items).toEqual([]); // account mode records no client rows
  });

  it('a client of another account is refused with environment_link_not_found (configuration)', async () => {
    const signer = await stack.newSigner();
    const error = await stack.connect(signer, { getIdToken: () => stack.idToken('mallory') }).catch((e) => e);
    expect(error).toBeInstanceOf(ConnectionBlockedError);
    expect(error.reason).toBe('configuration');
  });
});

describe('client-approval mode', () => {
  beforeAll(async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
  });

  it('answers a new key with a signed pending answer (no credential) and shows the same code on both sides', async () => {
    const signer = await stack.newSigner();
    const error = await stack.connect(signer, { wait: false, client: { label: 'Phone', deviceType: 'mobile', os: 'Android' } }).catch((e) => e);
    expect(error).toBeInstanceOf(ConnectionBlockedError);
    expect(error).toMatchObject({ reason: 'permission', approvalStatus: 'pending', detail: PENDING_DETAIL, retryAfterSeconds: 5 });
    const [row] = (await stack.owner.connect.clients.list.query()).items.filter((c) => c.clientProofKeyThumbprint === signer.thumbprint);
    expect(row).toMatchObject({ status: 'pending', client: { label: 'Phone', deviceType: 'mobile', os: 'Android' }, verificationCode: await verificationCode(signer.thumbprint) });
  });

  it('approve while the client waits → it gets in without asking again', async () => {
    const signer = await stack.newSigner();
    const counting = countingFetch();
    const pending = vi.fn();
    const connecting = stack.connect(signer, { onPending: pending, fetch: counting.fetch });
    await vi.waitFor(() => expect(pending).toHaveBeenCalledTimes(1));
    expect(pending.mock.calls[0]![0]).toMatchObject({ approvalStatus: 'pending', verificationCode: await verificationCode(signer.thumbprint) });
    // The second ask is being held open by the environment; approve it.
    await vi.waitFor(() => expect(stack.env.mint.waiting()).toBe(1));
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await connecting;
    expect(counting.calls).toHaveLength(2);
    expect((await fetchWhoAmI(session, signer)).clientProofKeyThumbprint).toBe(signer.thumbprint);
    const [row] = (await stack.owner.connect.clients.list.query()).items.filter((c) => c.clientProofKeyThumbprint === signer.thumbprint);
    expect(row?.status).toBe('approved');
    expect(row?.lastSeenAt).not.toBeNull();
  });

  it('reject while the client waits → ConnectionBlockedError with the rejected detail', async () => {
    const signer = await stack.newSigner();
    const connecting = stack.connect(signer).catch((e) => e);
    await vi.waitFor(() => expect(stack.env.mint.waiting()).toBe(1));
    await stack.owner.connect.clients.reject.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const error = await connecting;
    expect(error).toBeInstanceOf(ConnectionBlockedError);
    expect(error).toMatchObject({ reason: 'permission', approvalStatus: 'rejected', detail: REJECTED_DETAIL });
    // Asking again stays rejected until the owner changes their mind.
    await expect(stack.connect(signer, { wait: false })).rejects.toMatchObject({ approvalStatus: 'rejected' });
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    await expect(stack.connect(signer, { wait: false })).resolves.toMatchObject({ environmentId: stack.env.environmentId });
  });

  it('revoke → the connected client’s next whoami is UNAUTHORIZED and its session stream ends', async () => {
    const signer = await stack.newSigner();
    await stack.connect(signer, { wait: false }).catch(() => undefined);
    await stack.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    const session = await stack.connect(signer, { wait: false });
    const client = createEnvClient<EnvRouter>(session, signer);
    expect((await client.client.whoami.query()).clientProofKeyThumbprint).toBe(signer.thumbprint);

    const streamClient = createTRPCClient<EnvRouter>({
      links: [httpSubscriptionLink({ url: `${session.endpoint}/trpc`, EventSource, eventSourceOptions: { fetch: dpopFetch(signer, () => session.accessToken) } })],
    });
    const states: string[] = [];
    const sub = streamClient.client.session.subscribe(undefined, { onData: (d) => states.push(d.status === 'ended' ? `ended:${d.reason}` : d.status) });
    await vi.waitFor(() => expect(states).toEqual(['active']));

    const revoked = await stack.owner.connect.clients.revoke.mutate({ clientProofKeyThumbprint: signer.thumbprint });
    expect(revoked).toEqual({ revoked: true, endedSessions: 1 });
    await vi.waitFor(() => expect(states).toEqual(['active', 'ended:revoked']));
    sub.unsubscribe();
    await expect(client.client.whoami.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    // Asking again starts over as a fresh pending client.
    await expect(stack.connect(signer, { wait: false })).rejects.toMatchObject({ approvalStatus: 'pending' });
  });

  it('switching to account mode while a client waits lets it in (the mode change wakes the wait)', async () => {
    const signer = await stack.newSigner();
    const connecting = stack.connect(signer);
    await vi.waitFor(() => expect(stack.env.mint.waiting()).toBe(1));
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    await expect(connecting).resolves.toMatchObject({ environmentId: stack.env.environmentId });
    await stack.owner.connect.securityMode.set.mutate({ mode: 'client-approval' });
    // Switching modes approved nobody.
    const [row] = (await stack.owner.connect.clients.list.query()).items.filter((c) => c.clientProofKeyThumbprint === signer.thumbprint);
    expect(row?.status).toBe('pending');
  });
});

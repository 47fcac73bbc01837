// Pause new devices (SPEC §13), on the injected clock: new keys leave no trace, known ones work.
import { TRPCError } from '@trpc/server';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOCKDOWN_INDEFINITE } from '../../../shared/contracts';
import { listAudit } from '../audit/audit.service';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, ownerContext, type RelayTestKey } from '../testing';
import { envRouter } from '../trpc/app-router';
import { approveClient, revokeClient } from './client-decisions.service';
import { findClientRow } from './clients.service';
import { setSecurityMode } from './security-mode.service';

const KNOWN = fakeThumbprint(1);
const NEW = fakeThumbprint(2);
let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup() {
  const env = createLinkedMintEnv(relayKey, { relayIssuer: 'https://relay.pause.test', environmentId: 'env_pause', accountId: 'owner' });
  setSecurityMode(env.deps, 'client-approval', 'api');
  const caller = envRouter.createCaller(ownerContext(env.deps));
  const mintFor = async (t: string) => env.mint.mint(await env.sign(t), new AbortController().signal);
  return { ...env, caller, mintFor };
}

describe('pause new devices', () => {
  it('while paused a new key is refused with new_devices_paused and leaves no row or audit; an approved one still mints', async () => {
    const env = setup();
    await env.mintFor(KNOWN);
    approveClient(env.deps, KNOWN, 'web');
    const until = new Date(env.clock.now() + 15 * 60_000).toISOString();
    expect(await env.caller.connect.lockdown.set({ until })).toEqual({ until, indefinite: false });
    expect(listAudit(env.deps, { limit: 1 })[0]).toMatchObject({ actor: 'api', action: 'lockdown_set', detail: { until } });
    const auditBefore = listAudit(env.deps).length;
    await expect(env.mintFor(NEW)).rejects.toMatchObject({ kind: 'forbidden', reason: 'new_devices_paused', message: 'This environment is not accepting new devices right now.' });
    expect(findClientRow(env.deps.db, NEW)).toBeUndefined();
    expect(listAudit(env.deps)).toHaveLength(auditBefore);
    expect((await env.mintFor(KNOWN)).status).toBe('authorized');
  });

  it('a revoked key counts as new; a pending key keeps asking', async () => {
    const env = setup();
    await env.mintFor(KNOWN);
    await env.mintFor(NEW);
    revokeClient(env.deps, KNOWN, 'web');
    await env.caller.connect.lockdown.set({ until: LOCKDOWN_INDEFINITE });
    await expect(env.mintFor(KNOWN)).rejects.toMatchObject({ reason: 'new_devices_paused' });
    expect(await env.mintFor(NEW)).toMatchObject({ status: 'pending_approval' });
  });

  it('a timed pause ends by itself at its time; "until I turn it off" lasts until set to null', async () => {
    const env = setup();
    await env.caller.connect.lockdown.set({ until: new Date(env.clock.now() + 60 * 60_000).toISOString() });
    env.clock.advance(60 * 60_000 - 1);
    await expect(env.mintFor(NEW)).rejects.toMatchObject({ reason: 'new_devices_paused' });
    env.clock.advance(1);
    expect(await env.caller.connect.lockdown.get()).toMatchObject({ until: null });
    expect((await env.mintFor(NEW)).status).toBe('pending_approval');

    expect(await env.caller.connect.lockdown.set({ until: LOCKDOWN_INDEFINITE })).toEqual({ until: LOCKDOWN_INDEFINITE, indefinite: true });
    env.clock.advance(400 * 86_400_000);
    await expect(env.mintFor(fakeThumbprint(3))).rejects.toMatchObject({ reason: 'new_devices_paused' });
    expect(await env.caller.connect.lockdown.set({ until: null })).toEqual({ until: null, indefinite: false });
    expect((await env.mintFor(fakeThumbprint(3))).status).toBe('pending_approval');
    expect(listAudit(env.deps).filter((a) => a.action === 'lockdown_set').map((a) => a.detail)).toEqual([{ until: null }, { until: LOCKDOWN_INDEFINITE }, { until: expect.any(String) }]);
  });

  it('refuses a time in the past, a malformed time, and needs the write scope', async () => {
    const env = setup();
    for (const until of [new Date(env.clock.now() - 1000).toISOString(), new Date(env.clock.now()).toISOString()]) {
      await expect(env.caller.connect.lockdown.set({ until })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    }
    for (const until of ['tomorrow', '2026-13-01T00:00:00Z', '']) {
      await expect(env.caller.connect.lockdown.set({ until })).rejects.toBeInstanceOf(TRPCError);
    }
    const reader = envRouter.createCaller(ownerContext(env.deps, { owner: { scopes: ['access:read'], via: 'admin-token' } }));
    await expect(reader.connect.lockdown.set({ until: null })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await reader.connect.lockdown.get()).toEqual({ until: null, indefinite: false, floodedAt: null });
    expect(listAudit(env.deps).filter((a) => a.action === 'lockdown_set')).toEqual([]);
  });

  it('get says when the new-client limiter last tripped, so the page can offer a pause', async () => {
    const env = createLinkedMintEnv(relayKey, { relayIssuer: 'https://relay.pause.test', environmentId: 'env_pause', accountId: 'owner' });
    setSecurityMode(env.deps, 'client-approval', 'api');
    const caller = envRouter.createCaller(ownerContext(env.deps));
    let refused = 0;
    for (let i = 10; i < 40 && refused === 0; i++) {
      await env.mint.mint(await env.sign(fakeThumbprint(i), { source: { address: '198.51.100.7' } }), new AbortController().signal).catch((e) => (e.reason === 'rate_limited' ? refused++ : Promise.reject(e)));
    }
    expect(refused).toBe(1);
    expect((await caller.connect.lockdown.get()).floodedAt).toBe(new Date(env.clock.now()).toISOString());
  });
});

import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { createTestDeps, fakeThumbprint, ownerContext } from '../testing';
import { envRouter } from './app-router';
import { requestClient } from '../connect/client-requests.service';

const T = fakeThumbprint(7);
type Caller = ReturnType<typeof envRouter.createCaller>;
const ownerCalls: Array<[string, (c: Caller) => Promise<unknown>, 'read' | 'write']> = [
  ['connect.securityMode.get', (c) => c.connect.securityMode.get(), 'read'],
  ['connect.securityMode.set', (c) => c.connect.securityMode.set({ mode: 'client-approval' }), 'write'],
  ['connect.clients.list', (c) => c.connect.clients.list(), 'read'],
  ['connect.clients.approve', (c) => c.connect.clients.approve({ clientProofKeyThumbprint: T }), 'write'],
  ['connect.clients.reject', (c) => c.connect.clients.reject({ clientProofKeyThumbprint: T }), 'write'],
  ['connect.clients.revoke', (c) => c.connect.clients.revoke({ clientProofKeyThumbprint: T }), 'write'],
  ['connect.clients.counts', (c) => c.connect.clients.counts(), 'read'],
  ['connect.clients.rejectAllPending', (c) => c.connect.clients.rejectAllPending(), 'write'],
  ['access.events (summary opening)', (c) => c.access.events({ opening: 'summary' }), 'read'],
  ['connect.clients.connected', (c) => c.connect.clients.connected(), 'read'],
  ['connect.clients.details', (c) => c.connect.clients.details({ clientProofKeyThumbprint: T }), 'read'],
  ['connect.clients.rename', (c) => c.connect.clients.rename({ clientProofKeyThumbprint: T, name: 'x' }), 'write'],
  ['connect.clients.endSessions', (c) => c.connect.clients.endSessions({ clientProofKeyThumbprint: T }), 'write'],
  ['connect.audit.list', (c) => c.connect.audit.list({}), 'read'],
  ['access.events', (c) => c.access.events({}), 'read'],
];

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    const value = await promise;
    const iterable = value as AsyncIterable<unknown> | null;
    if (iterable && typeof iterable[Symbol.asyncIterator] === 'function') await iterable[Symbol.asyncIterator]().next();
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('owner procedures refuse callers without the right access', () => {
  it.each(ownerCalls)('%s without auth → UNAUTHORIZED', async (_name, call) => {
    const { deps } = createTestDeps();
    expect(await codeOf(call(envRouter.createCaller(ownerContext(deps, { owner: null, ownerKey: null }))))).toBe('UNAUTHORIZED');
  });

  it.each(ownerCalls)('%s without its scope → FORBIDDEN', async (_name, call, needs) => {
    const { deps } = createTestDeps();
    const other = needs === 'read' ? ['access:write'] : ['access:read'];
    expect(await codeOf(call(envRouter.createCaller(ownerContext(deps, { owner: { scopes: other, via: 'cookie' } }))))).toBe('FORBIDDEN');
  });

  it.each(ownerCalls.filter(([, , needs]) => needs === 'write'))('%s from a cross-site cookie request → FORBIDDEN (CSRF)', async (_name, call) => {
    const { deps } = createTestDeps();
    requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    const ctx = ownerContext(deps, { owner: { scopes: ['access:read', 'access:write'], via: 'cookie' }, crossSiteCookie: true });
    expect(await codeOf(call(envRouter.createCaller(ctx)))).toBe('FORBIDDEN');
    await expect(envRouter.createCaller(ownerContext(deps)).connect.clients.list()).resolves.toMatchObject({ items: [{ status: 'pending' }], nextCursor: null, counts: { pending: 1, approved: 0, rejected: 0 } });
  });

  it('a DPoP client cannot approve itself: client sessions carry no owner scopes', async () => {
    const { deps } = createTestDeps();
    requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    const caller = envRouter.createCaller(ownerContext(deps, { owner: null, ownerKey: null }));
    expect(await codeOf(caller.connect.clients.approve({ clientProofKeyThumbprint: T }))).toBe('UNAUTHORIZED');
  });
});

describe('owner procedures with access', () => {
  it('approve an absent client → NOT_FOUND with the service message', async () => {
    const { deps } = createTestDeps();
    const caller = envRouter.createCaller(ownerContext(deps));
    await expect(caller.connect.clients.approve({ clientProofKeyThumbprint: T })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `No active Connect client found for ${T}.`,
    });
  });

  it('bad input → BAD_REQUEST and nothing stored', async () => {
    const { deps } = createTestDeps();
    const caller = envRouter.createCaller(ownerContext(deps));
    await expect(caller.connect.securityMode.set({ mode: 'open' as never })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(caller.connect.clients.approve({ clientProofKeyThumbprint: 'short' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(caller.connect.audit.list({ limit: 100_000 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await caller.connect.securityMode.get()).toEqual({ mode: 'account' });
  });

  it('decisions are attributed to the caller’s actor in the audit log', async () => {
    const { deps } = createTestDeps();
    requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
    await envRouter.createCaller(ownerContext(deps, { actor: 'cli' })).connect.clients.approve({ clientProofKeyThumbprint: T });
    const audit = await envRouter.createCaller(ownerContext(deps)).connect.audit.list({ limit: 1 });
    expect(audit[0]).toMatchObject({ actor: 'cli', action: 'client_approved', clientProofKeyThumbprint: T });
  });

  it('an unreadable stored mode is an error with a reset hint, never account', async () => {
    const { deps } = createTestDeps();
    deps.db.$client.pragma('ignore_check_constraints = ON');
    deps.db.$client.prepare("INSERT INTO connect_settings (id, security_mode, updated_at) VALUES (1, 'weird', 'x')").run();
    const caller = envRouter.createCaller(ownerContext(deps));
    await expect(caller.connect.securityMode.get()).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR', message: expect.stringContaining('--mode') });
    await caller.connect.securityMode.set({ mode: 'account' });
    expect(await caller.connect.securityMode.get()).toEqual({ mode: 'account' });
  });
});

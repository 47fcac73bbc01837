// The client session stream behind `client.session`: active while the session lives, ended the
// moment a decision ends it, and ended at once for a session that is already over.
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../common/secrets';
import { createTestDeps, fakeThumbprint } from '../testing';
import { clientSessionStates, createClientSession, findLiveSession, type ClientIdentity } from './client-sessions.service';
import { requestClient } from './client-requests.service';
import { approveClient, revokeClient } from './client-decisions.service';

const T = fakeThumbprint(4);

function connected() {
  const { deps, clock } = createTestDeps();
  requestClient(deps, { clientProofKeyThumbprint: T, accountId: 'owner' });
  approveClient(deps, T, 'api');
  const { token, expiresAt } = createClientSession(deps.db, clock.now(), T, 'owner');
  const client: ClientIdentity = { clientProofKeyThumbprint: T, accountId: 'owner', scopes: ['environment:use'], expiresAt, sessionTokenHash: sha256Hex(token) };
  return { deps, clock, client };
}

describe('client sessions', () => {
  it('findLiveSession finds a live session and not an expired one', () => {
    const { deps, clock, client } = connected();
    expect(findLiveSession(deps.db, client.sessionTokenHash, clock.now())?.clientProofKeyThumbprint).toBe(T);
    expect(findLiveSession(deps.db, client.sessionTokenHash, client.expiresAt)).toBeUndefined();
  });

  it('streams active, then ended when the client is revoked', async () => {
    const { deps, client } = connected();
    const states = clientSessionStates(deps, client, new AbortController().signal);
    expect((await states.next()).value).toEqual({ status: 'active', expiresAt: client.expiresAt });
    const next = states.next();
    revokeClient(deps, T, 'api');
    expect((await next).value).toEqual({ status: 'ended', reason: 'revoked' });
    expect((await states.next()).done).toBe(true);
  });

  it('a session already ended is reported ended at once', async () => {
    const { deps, client } = connected();
    revokeClient(deps, T, 'api');
    const states = clientSessionStates(deps, client, undefined);
    expect((await states.next()).value).toEqual({ status: 'ended', reason: 'revoked' });
    expect((await states.next()).done).toBe(true);
  });
});

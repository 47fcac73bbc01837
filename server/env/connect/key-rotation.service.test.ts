// Key continuity (SPEC §13) on the injected clock: every way to misuse a rotation proof is refused,
// and a rotation racing a revoke never resurrects the client.
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../../shared/dpop';
import { createKeyRotationProof, KEY_ROTATION_TYP } from '../../../shared/key-rotation';
import { listAudit } from '../audit/audit.service';
import { createTestDeps } from '../testing';
import { approveClient, revokeClient } from './client-decisions.service';
import { requestClient } from './client-requests.service';
import { createClientSession, findLiveSession, type ClientIdentity } from './client-sessions.service';
import { findActiveClient, findClientRow } from './clients.service';
import { canRotateKey, rotateClientKey } from './key-rotation.service';
import { setSecurityMode } from './security-mode.service';
import { sha256Hex } from '../../common/secrets';

const ENV = 'env_rotate';
let oldKey: DpopSigner;
let newKey: DpopSigner;
let otherKey: DpopSigner;
beforeAll(async () => {
  const make = async () => createDpopSigner(await generateDpopKeyPair(false));
  [oldKey, newKey, otherKey] = await Promise.all([make(), make(), make()]);
});

function setup() {
  const { deps, clock } = createTestDeps(Date.now());
  requestClient(deps, { clientProofKeyThumbprint: oldKey.thumbprint, accountId: 'owner' });
  approveClient(deps, oldKey.thumbprint, 'web', 3600);
  const { token, expiresAt } = createClientSession(deps.db, clock.now(), oldKey.thumbprint, 'owner');
  const client: ClientIdentity = { clientProofKeyThumbprint: oldKey.thumbprint, accountId: 'owner', scopes: ['environment:use'], expiresAt, sessionTokenHash: sha256Hex(token) };
  const proof = (over: Partial<Parameters<typeof createKeyRotationProof>[1]> = {}, key = newKey) => createKeyRotationProof(key, { environmentId: ENV, oldThumbprint: oldKey.thumbprint, now: clock.now(), ...over });
  return { deps, clock, client, proof };
}

describe('client.rotateKey', () => {
  it('moves the approval (and its lifetime) to the new key, ends the old key’s sessions, and audits both thumbprints', async () => {
    const { deps, client, proof } = setup();
    const before = findActiveClient(deps.db, oldKey.thumbprint)!;
    expect(await rotateClientKey(deps, client, ENV, await proof())).toEqual({ oldThumbprint: oldKey.thumbprint, newThumbprint: newKey.thumbprint, endedSessions: 1 });
    expect(findClientRow(deps.db, oldKey.thumbprint)).toBeUndefined();
    expect(findActiveClient(deps.db, newKey.thumbprint)).toMatchObject({ status: 'approved', approvedAt: before.approvedAt, approvalExpiresAt: before.approvalExpiresAt });
    expect(findLiveSession(deps.db, client.sessionTokenHash, deps.clock.now())).toBeUndefined();
    expect(listAudit(deps, { limit: 1 })[0]).toMatchObject({ actor: 'client', action: 'client_key_rotated', clientProofKeyThumbprint: newKey.thumbprint, detail: { oldThumbprint: oldKey.thumbprint, newThumbprint: newKey.thumbprint, endedSessions: 1 } });
  });

  it('refuses a wrong typ, environment or old thumbprint, a tampered, replayed, expired or future proof, and the same key', async () => {
    const { deps, clock, client, proof } = setup();
    const good = await proof();
    const [h, p, s] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), environmentId: 'env_other' })).toString('base64url')}.${s}`;
    const wrongTyp = await new SignJWT({ environmentId: ENV, oldThumbprint: oldKey.thumbprint, jti: 'j'.repeat(22) }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: newKey.publicJwk }).setIssuedAt(Math.floor(clock.now() / 1000)).sign(newKey.privateKey);
    // Signed by another key than the one in its jwk header.
    const wrongSigner = await new SignJWT({ environmentId: ENV, oldThumbprint: oldKey.thumbprint, jti: 'k'.repeat(22) }).setProtectedHeader({ alg: 'ES256', typ: KEY_ROTATION_TYP, jwk: newKey.publicJwk }).setIssuedAt(Math.floor(clock.now() / 1000)).sign(otherKey.privateKey);
    const cases: Array<[string, string]> = [
      ['typ', wrongTyp],
      ['environment', await proof({ environmentId: 'env_other' })],
      ['old thumbprint', await proof({ oldThumbprint: otherKey.thumbprint })],
      ['tampered', tampered],
      ['wrong signer', wrongSigner],
      ['expired', await proof({ now: clock.now() - 61_000 })],
      ['future', await proof({ now: clock.now() + 10_000 })],
      ['same key', await proof({}, oldKey)],
      ['garbage', 'not.a.jwt'],
      ['oversized', 'a'.repeat(5000)],
    ];
    for (const [name, bad] of cases) {
      await expect(rotateClientKey(deps, client, ENV, bad), name).rejects.toMatchObject({ kind: 'bad_request', reason: 'invalid_request' });
    }
    expect(findActiveClient(deps.db, oldKey.thumbprint)?.status).toBe('approved');
    await rotateClientKey(deps, client, ENV, good);
    // Replayed: the same proof again (even for a client that would otherwise qualify).
    await expect(rotateClientKey(deps, { ...client, clientProofKeyThumbprint: oldKey.thumbprint }, ENV, good)).rejects.toMatchObject({ message: expect.stringContaining('already used') });
  });

  it('refuses when the new key already belongs to an active client, and for a client that is not approved', async () => {
    const { deps, client, proof } = setup();
    requestClient(deps, { clientProofKeyThumbprint: newKey.thumbprint, accountId: 'owner' });
    await expect(rotateClientKey(deps, client, ENV, await proof())).rejects.toMatchObject({ kind: 'conflict' });
    revokeClient(deps, newKey.thumbprint, 'web');
    revokeClient(deps, oldKey.thumbprint, 'web');
    await expect(rotateClientKey(deps, client, ENV, await proof())).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('rotate ∥ revoke: a revoke landing while the proof is verified wins, and the new key gets nothing', async () => {
    const { deps, client, proof } = setup();
    const p = await proof();
    const rotating = rotateClientKey(deps, client, ENV, p);
    revokeClient(deps, oldKey.thumbprint, 'web'); // runs before the rotation's transaction (it awaits verification first)
    await expect(rotating).rejects.toMatchObject({ kind: 'not_found' });
    expect(findActiveClient(deps.db, newKey.thumbprint)).toBeUndefined();
    expect(findActiveClient(deps.db, oldKey.thumbprint)).toBeUndefined();
  });

  it('revoke after rotate: the old thumbprint is gone, the new one can be revoked', async () => {
    const { deps, client, proof } = setup();
    await rotateClientKey(deps, client, ENV, await proof());
    expect(() => revokeClient(deps, oldKey.thumbprint, 'web')).toThrow(/No active Connect client/);
    expect(revokeClient(deps, newKey.thumbprint, 'web')).toMatchObject({ revoked: true });
  });

  it('is offered (client.canRotateKey) only to an approved client in client-approval mode, and not once its approval has run out', () => {
    const { deps, clock } = setup(); // approved for an hour, in account mode (the default)
    expect(canRotateKey(deps, oldKey.thumbprint)).toBe(false);
    setSecurityMode(deps, 'client-approval', 'api');
    expect(canRotateKey(deps, oldKey.thumbprint)).toBe(true);
    expect(canRotateKey(deps, otherKey.thumbprint)).toBe(false);
    requestClient(deps, { clientProofKeyThumbprint: otherKey.thumbprint, accountId: 'owner' });
    expect(canRotateKey(deps, otherKey.thumbprint)).toBe(false); // pending
    clock.advance(3600 * 1000); // the approval's end, before any timer moved the row
    expect(canRotateKey(deps, oldKey.thumbprint)).toBe(false);
  });
});

// SPEC §11: the environment id is derived from the key; an older data directory re-derives it and
// must link again (the relay knows only the old id), keeping its clients and decisions.
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { environmentIdOfKey } from '../common/environment-id';
import { environment } from './db/schema';
import { syncEnvironmentId } from './environment.service';
import { readRelayLink, saveRelayLink } from './link/link.service';
import { approveClient } from './connect/client-decisions.service';
import { requestClient } from './connect/client-requests.service';
import { findActiveClient } from './connect/clients.service';
import { createTestDeps, fakeThumbprint } from './testing';
import { setSecurityMode } from './connect/security-mode.service';

const newKey = async () => exportJWK(generateKeyPairSync('ed25519').publicKey);

describe('syncEnvironmentId', () => {
  it('a new data directory gets the id derived from its key, and keeps it', async () => {
    const { deps } = createTestDeps();
    const key = await newKey();
    const first = await syncEnvironmentId(deps, key);
    expect(first).toEqual({ environmentId: await environmentIdOfKey(key), previousId: null });
    expect(await syncEnvironmentId(deps, key)).toEqual(first);
  });

  it('an older random id is replaced by the derived one; the link goes, clients stay', async () => {
    const { deps } = createTestDeps();
    deps.db.insert(environment).values({ id: 1, environmentId: 'env_OldRandomId123', createdAt: new Date().toISOString() }).run();
    saveRelayLink(deps, { relayUrl: 'http://relay', relayIssuer: 'http://relay', relayPublicKey: { kty: 'OKP', crv: 'Ed25519', x: 'x'.repeat(43) }, accountId: 'owner', routedEndpoint: null, deviceOrigin: null });
    setSecurityMode(deps, 'client-approval', 'api');
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(1), accountId: 'owner' });
    approveClient(deps, fakeThumbprint(1), 'web');
    const key = await newKey();
    const result = await syncEnvironmentId(deps, key);
    expect(result).toEqual({ environmentId: await environmentIdOfKey(key), previousId: 'env_OldRandomId123' });
    expect(readRelayLink(deps)).toBeNull();
    expect(findActiveClient(deps.db, fakeThumbprint(1))?.status).toBe('approved');
  });
});

// Issue 17 item 8: the software a client reports at connect reaches the owner's details view,
// normalized and capped; a later report replaces it, a missing one keeps the last.
import { beforeAll, describe, expect, it } from 'vitest';
import { SOFTWARE_MAX } from '../../../shared/contracts';
import { gatehouseSoftware } from '../../../shared/software';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { clientDetails } from './client-list';
import { setSecurityMode } from './security-mode.service';

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

function setup() {
  const env = createLinkedMintEnv(relayKey, { relayIssuer: 'https://relay.software.test', environmentId: 'env_software', accountId: 'owner' });
  setSecurityMode(env.deps, 'client-approval', 'api');
  const ask = async (n: number, client?: { software?: string; label?: string }) => {
    env.clock.advance(1000);
    await env.mint.mint(await env.sign(fakeThumbprint(n), { ...(client && { client }) }), new AbortController().signal).catch(() => undefined);
  };
  return { ...env, ask };
}

describe('client software in the details view', () => {
  it('is stored as reported and shown; a later report replaces it; a request without one keeps it', async () => {
    const { ask, deps } = setup();
    await ask(1, { software: gatehouseSoftware('cli'), label: 'Laptop' });
    expect(clientDetails(deps, fakeThumbprint(1)).software).toBe(gatehouseSoftware('cli'));
    await ask(1, { software: 'gatehouse-cli/0.2.0' });
    expect(clientDetails(deps, fakeThumbprint(1)).software).toBe('gatehouse-cli/0.2.0');
    await ask(1);
    expect(clientDetails(deps, fakeThumbprint(1)).software).toBe('gatehouse-cli/0.2.0');
  });

  it('null when the client never reported one', async () => {
    const { ask, deps } = setup();
    await ask(2, { label: 'Old client' });
    expect(clientDetails(deps, fakeThumbprint(2)).software).toBeNull();
  });

  it('a relay cannot sign an oversized software string, and an over-long one is capped and stripped of invisible characters', async () => {
    const { sign } = setup();
    await expect(sign(fakeThumbprint(3), { client: { software: 'x'.repeat(SOFTWARE_MAX * 4 + 1) } })).rejects.toThrow();
    const { deps, ask } = setup();
    await ask(4, { software: `\u200bapp/${'9'.repeat(SOFTWARE_MAX)}` });
    const stored = clientDetails(deps, fakeThumbprint(4)).software!;
    expect(stored).toHaveLength(SOFTWARE_MAX);
    expect(stored.startsWith('app/')).toBe(true);
  });
});

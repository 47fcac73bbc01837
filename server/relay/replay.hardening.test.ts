// The relay's DPoP replay store: it persists across a restart (S13) and fails closed (S17).
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDpopProof, generateDpopKeyPair, createDpopSigner } from '../../shared/dpop';
import { ID_TOKEN, probe, TOKEN_EXCHANGE } from '../testing/http-probe';
import { startRelay, type RelayRuntime } from './relay-app';

const dirs: string[] = [];
const relays: RelayRuntime[] = [];
afterAll(async () => {
  for (const relay of relays) await relay.close().catch(() => undefined);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function relayOn(dataDir: string, port = 0) {
  const relay = await startRelay({ dataDir, port, devIssuer: true });
  relays.push(relay);
  return relay;
}

const exchange = async (relay: RelayRuntime, dpop: string, idToken: string) =>
  probe(`${relay.publicUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: dpop },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: idToken, subject_token_type: ID_TOKEN }).toString(),
  });

describe('relay replay store', () => {
  it('S13 a proof used before a restart is still refused after it (the marker is stored, not in memory)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-replay-'));
    dirs.push(dir);
    const first = await relayOn(dir);
    const port = (first.server.address() as AddressInfo).port;
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const proof = await createDpopProof(signer, { htm: 'POST', htu: `${first.publicUrl}/oauth/token` });
    const idToken = await first.devIssuer!.issueIdToken('owner');
    expect((await exchange(first, proof, idToken)).status).toBe(200);
    await first.close();
    const again = await relayOn(dir, port);
    expect(again.publicUrl).toBe(first.publicUrl);
    expect(await exchange(again, proof, idToken)).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof', message: expect.stringMatching(/already used/) } });
  });

  it('S17 if the marker cannot be recorded, the token exchange and connect answer 503 and issue nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-failclosed-'));
    dirs.push(dir);
    const relay = await relayOn(dir);
    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const idToken = await relay.devIssuer!.issueIdToken('owner');
    const tokenUrl = `${relay.publicUrl}/oauth/token`;
    const ok = await exchange(relay, await createDpopProof(signer, { htm: 'POST', htu: tokenUrl }), idToken);
    const accessToken = String(ok.body?.access_token);
    const store = relay.deps.store;
    const consume = store.consumeMarker;
    store.consumeMarker = async () => {
      throw Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' });
    };
    try {
      const refused = await exchange(relay, await createDpopProof(signer, { htm: 'POST', htu: tokenUrl }), idToken);
      expect(refused.status).toBe(503);
      expect(refused.body).not.toHaveProperty('access_token');
      expect(refused.text).not.toMatch(/SQLITE/);
      const connectUrl = `${relay.publicUrl}/trpc/environments.connect`;
      const connect = await probe(connectUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `DPoP ${accessToken}`, DPoP: await createDpopProof(signer, { htm: 'POST', htu: connectUrl, accessToken }) },
        body: JSON.stringify({ environmentId: 'env_any', clientProofKeyThumbprint: signer.thumbprint }),
      });
      expect(connect.status).toBe(503);
      expect(connect.text).not.toMatch(/SQLITE|credential/);
    } finally {
      store.consumeMarker = consume;
    }
  });
});

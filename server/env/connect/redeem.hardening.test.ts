// Replay, lifetime and fail-closed properties of credential redemption at a real environment:
// S13 across a restart, S14 future-dated proofs, S17 a failing replay store, S27/S28/S29 for
// credentials. The environment runs on a manual clock; its public URL is fixed so a restart
// keeps the same DPoP `htu`.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../../shared/dpop';
import { manualClock } from '../../common/clock';
import { signMintRequest } from '../../mint/mint-protocol';
import { CONNECT_CREDENTIAL, dumpTables, probe, TOKEN_EXCHANGE } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';
import { startEnvironment, type EnvRuntime } from '../env-app';
import { CREDENTIAL_TTL_MS } from './credentials.service';

const PUBLIC_URL = 'https://env.hardening.test';
const TOKEN_URL = `${PUBLIC_URL}/oauth/token`;
let stack: Stack;
let dataDir: string;
let env: EnvRuntime;
const clock = manualClock(Date.now());

const base = (rt: EnvRuntime) => `http://127.0.0.1:${(rt.server.address() as AddressInfo).port}`;

beforeAll(async () => {
  stack = await startStack();
  dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-redeem-'));
  env = await startEnvironment({ dataDir, port: 0, publicUrl: PUBLIC_URL, clock });
  await env.link(stack.relay.publicUrl, await stack.idToken());
});
afterAll(async () => {
  await env.close();
  await stack.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function mintOn(rt: EnvRuntime, thumbprint: string) {
  const { token } = await signMintRequest(stack.relay.deps.signingKey.privateKey, {
    relayIssuer: stack.relay.publicUrl,
    environmentId: rt.environmentId,
    accountId: 'owner',
    clientProofKeyThumbprint: thumbprint,
    now: clock.now(),
  });
  return probe(`${base(rt)}/api/connect/mint-credential`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof: token }) });
}

async function credentialOn(rt: EnvRuntime, signer: DpopSigner): Promise<string> {
  const res = await mintOn(rt, signer.thumbprint);
  expect(res.body?.status).toBe('authorized');
  return String(res.body?.credential);
}

const redeemOn = (rt: EnvRuntime, credential: string, dpop: string) =>
  probe(`${base(rt)}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: dpop },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: credential, subject_token_type: CONNECT_CREDENTIAL }).toString(),
  });

const proofAt = (signer: DpopSigner, now = clock.now()) => createDpopProof(signer, { htm: 'POST', htu: TOKEN_URL, now });

describe('redemption hardening', () => {
  it('S13 a used proof is still refused after the environment restarts, because the marker persists', async () => {
    const signer = await stack.newSigner();
    const proof = await proofAt(signer);
    expect((await redeemOn(env, await credentialOn(env, signer), proof)).status).toBe(200);
    await env.close();
    env = await startEnvironment({ dataDir, port: 0, publicUrl: PUBLIC_URL, clock });
    clock.advance(10_000);
    const replay = await redeemOn(env, await credentialOn(env, signer), proof);
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof', message: expect.stringMatching(/already used/) } });
  });

  it('S14 a proof dated 5 s ahead, replayed 64 s later (still inside its window), is refused', async () => {
    const signer = await stack.newSigner();
    const proof = await proofAt(signer, clock.now() + 5_000);
    expect((await redeemOn(env, await credentialOn(env, signer), proof)).status).toBe(200);
    clock.advance(64_000);
    expect(await redeemOn(env, await credentialOn(env, signer), proof)).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    // Once the window has passed, the proof is refused as too old, whatever the marker.
    clock.advance(10_000);
    expect(await redeemOn(env, await credentialOn(env, signer), proof)).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof', message: expect.stringMatching(/too old/) } });
  });

  it('S29 a credential lives 2 minutes: one second past its expiry it is refused', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialOn(env, signer);
    clock.advance(CREDENTIAL_TTL_MS + 1000);
    expect(await redeemOn(env, credential, await proofAt(signer))).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: 'invalid_grant' } });
    const fresh = await credentialOn(env, signer);
    clock.advance(CREDENTIAL_TTL_MS - 1000);
    expect((await redeemOn(env, fresh, await proofAt(signer))).status).toBe(200);
  });

  it('S27 a JWT of any kind presented as the credential is refused: mint answers, DPoP proofs, relay tokens', async () => {
    const signer = await stack.newSigner();
    const mintAnswer = await mintOn(env, signer.thumbprint);
    const relayToken = await probe(`${stack.relay.publicUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: `${stack.relay.publicUrl}/oauth/token` }) },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: await stack.idToken(), subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }).toString(),
    });
    for (const token of [String(mintAnswer.body?.proof), await proofAt(signer), String(relayToken.body?.access_token), await stack.idToken()]) {
      expect(token.split('.')).toHaveLength(3);
      expect(await redeemOn(env, token, await proofAt(signer))).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: 'invalid_grant' } });
    }
    // The genuine credential from that same answer still works: nothing was consumed.
    expect((await redeemOn(env, String(mintAnswer.body?.credential), await proofAt(signer))).status).toBe(200);
  });

  it('S28 a credential minted by one environment is refused by another linked to the same relay', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialOn(env, signer);
    const atOther = await probe(`${stack.env.publicUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: `${stack.env.publicUrl}/oauth/token` }) },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: credential, subject_token_type: CONNECT_CREDENTIAL }).toString(),
    });
    expect(atOther).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: 'invalid_grant' } });
    // A mint request for environment A is refused by environment B (aud env:<id>).
    const { token } = await signMintRequest(stack.relay.deps.signingKey.privateKey, { relayIssuer: stack.relay.publicUrl, environmentId: env.environmentId, accountId: 'owner', clientProofKeyThumbprint: signer.thumbprint, now: Date.now() });
    const crossed = await probe(`${stack.env.publicUrl}/api/connect/mint-credential`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof: token }) });
    expect(crossed).toMatchObject({ status: 401, body: { reason: 'invalid_request' } });
  });

  it('S17 the replay store fails closed: if recording a marker fails, the answer is a 5xx and nothing is issued', async () => {
    const signer = await stack.newSigner();
    const credential = await credentialOn(env, signer);
    const sqlite = env.deps.db.$client;
    // Simulates a full disk or SQLITE_BUSY on exactly the replay-marker write.
    sqlite.exec("CREATE TEMP TRIGGER fail_markers BEFORE INSERT ON main.replay_markers BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;");
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void errors.push(args);
    try {
      const before = dumpTables(env.deps.db);
      const redeemed = await redeemOn(env, credential, await proofAt(signer));
      expect(redeemed.status).toBeGreaterThanOrEqual(500);
      expect(redeemed.body).toMatchObject({ error: 'server_error', message: 'Internal server error.' });
      expect(redeemed.body).not.toHaveProperty('access_token');
      const minted = await mintOn(env, signer.thumbprint);
      expect(minted.status).toBeGreaterThanOrEqual(500);
      expect(minted.body).not.toHaveProperty('credential');
      expect(dumpTables(env.deps.db)).toEqual(before);
    } finally {
      sqlite.exec('DROP TRIGGER temp.fail_markers');
      console.error = original;
    }
    expect(errors.length).toBeGreaterThan(0);
    // Once the store works again the untouched credential redeems normally.
    expect((await redeemOn(env, credential, await proofAt(signer))).status).toBe(200);
  });
});

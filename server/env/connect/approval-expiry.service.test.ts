// Approval lifetimes (SPEC §13), on the injected clock: the timer, and the check at every use
// (mint, redeem, client session) that holds even when the timer never fired.
import type { IncomingMessage } from 'node:http';
import { eq } from 'drizzle-orm';
import { TRPCError } from '@trpc/server';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../shared/contracts';
import { createDpopProof, createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../../shared/dpop';
import { listAudit } from '../audit/audit.service';
import { clientSessions } from '../db/schema';
import { createLinkedMintEnv, createRelayTestKey, ownerContext, type RelayTestKey } from '../testing';
import { envRouter } from '../trpc/app-router';
import { expireDueApprovals, startApprovalExpiryTimer, type Schedule } from './approval-expiry.service';
import { authenticateClientRequest } from './client-auth';
import { approveClient } from './client-decisions.service';
import { findActiveClient } from './clients.service';
import { redeemCredential, CONNECT_CREDENTIAL_TYPE, TOKEN_EXCHANGE_GRANT } from './redeem.service';
import { setSecurityMode } from './security-mode.service';

const RELAY = 'https://relay.expiry.test';
const ENV_ID = 'env_expiry';
const BASE = 'https://env.expiry.test';
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

let relayKey: RelayTestKey;
let signer: DpopSigner;
let other: DpopSigner;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
  signer = await createDpopSigner(await generateDpopKeyPair(false));
  other = await createDpopSigner(await generateDpopKeyPair(false));
});

function setup() {
  const env = createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: ENV_ID, accountId: 'owner' });
  setSecurityMode(env.deps, 'client-approval', 'api');
  const events: AccessEvent[] = [];
  env.deps.bus.subscribe((e) => events.push(e));
  const mintFor = async (s: DpopSigner = signer) => env.mint.mint(await env.sign(s.thumbprint), new AbortController().signal);
  const fakeReq = (method: string, path: string, dpop: string, authorization?: string) =>
    ({ method, url: path, headers: authorization ? { authorization } : {}, rawHeaders: ['DPoP', dpop] }) as unknown as IncomingMessage;
  async function redeem(credential: string, s: DpopSigner = signer) {
    const dpop = await createDpopProof(s, { htm: 'POST', htu: `${BASE}/oauth/token`, now: env.clock.now() });
    return redeemCredential(env.deps, fakeReq('POST', '/oauth/token', dpop), { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: credential, subject_token_type: CONNECT_CREDENTIAL_TYPE }, `${BASE}/oauth/token`);
  }
  async function authenticate(token: string, s: DpopSigner = signer) {
    const dpop = await createDpopProof(s, { htm: 'GET', htu: `${BASE}/trpc/client.whoami`, accessToken: token, now: env.clock.now() });
    return authenticateClientRequest(env.deps, fakeReq('GET', '/trpc/client.whoami', dpop, `DPoP ${token}`), [BASE]);
  }
  /** A connected client: asked, approved for `seconds`, minted and redeemed a session. */
  async function connected(seconds?: number, s: DpopSigner = signer) {
    await mintFor(s);
    approveClient(env.deps, s.thumbprint, 'web', seconds);
    const minted = await mintFor(s);
    if (minted.status !== 'authorized') throw new Error('not authorized');
    return (await redeem(minted.credential, s)).access_token;
  }
  return { ...env, events, mintFor, redeem, authenticate, connected };
}

/** A scheduler the test fires by hand: it records each alarm's delay. */
function handScheduler() {
  const alarms: Array<{ run: () => void; delayMs: number; cancelled: boolean }> = [];
  const schedule: Schedule = (run, delayMs) => {
    const alarm = { run: () => ((alarm.cancelled = true), run()), delayMs, cancelled: false };
    alarms.push(alarm);
    return () => void (alarm.cancelled = true);
  };
  const live = () => alarms.filter((a) => !a.cancelled);
  return { schedule, live, fire: () => live().at(-1)!.run() };
}

const sessionRows = (env: ReturnType<typeof setup>) => env.deps.db.select().from(clientSessions).where(eq(clientSessions.clientProofKeyThumbprint, signer.thumbprint)).all();

describe('approval lifetimes', () => {
  it('approving for a time records the end, audits it, and caps the session it grants at that end', async () => {
    const env = setup();
    const start = env.clock.now();
    const token = await env.connected(1800);
    expect(findActiveClient(env.deps.db, signer.thumbprint)).toMatchObject({ status: 'approved', approvalExpiresAt: iso(start + 1800_000), approvalExpiredAt: null });
    expect(listAudit(env.deps).find((a) => a.action === 'client_approved')?.detail).toEqual({ was: 'pending', endedSessions: 0, approvedUntil: iso(start + 1800_000) });
    expect(sessionRows(env)).toEqual([expect.objectContaining({ expiresAt: start + 1800_000 })]);
    expect((await env.authenticate(token)).expiresAt).toBe(start + 1800_000);
  });

  it('the timer fires at the end: the row goes back to pending, sessions end at that moment, the system audits it and an event goes out', async () => {
    const env = setup();
    const hand = handScheduler();
    const timer = startApprovalExpiryTimer(env.deps, hand.schedule);
    expect(hand.live()).toEqual([]);
    const start = env.clock.now();
    await env.connected(3600);
    expect(hand.live().map((a) => a.delayMs)).toEqual([HOUR]);
    env.events.length = 0;
    env.clock.advance(HOUR + 250); // the alarm runs a little late
    hand.fire();
    const row = findActiveClient(env.deps.db, signer.thumbprint)!;
    expect(row).toMatchObject({ status: 'pending', approvedAt: null, approvalExpiresAt: null, approvalExpiredAt: iso(start + HOUR), approver: false });
    expect(sessionRows(env).map((s) => s.endedAt)).toEqual([start + HOUR]);
    const [entry] = listAudit(env.deps, { limit: 1 });
    expect(entry).toMatchObject({ actor: 'system', action: 'approval_expired', clientProofKeyThumbprint: signer.thumbprint, detail: { approvedUntil: iso(start + HOUR), endedSessions: 1 } });
    expect(env.events).toEqual([expect.objectContaining({ type: 'connectClientUpserted', payload: expect.objectContaining({ status: 'pending', approvalExpiredAt: iso(start + HOUR) }) })]);
    expect(hand.live()).toEqual([]); // nothing else to wait for
    timer.stop();
  });

  it('a new approval ending sooner moves the alarm forward; a later one does not', async () => {
    const env = setup();
    const hand = handScheduler();
    const timer = startApprovalExpiryTimer(env.deps, hand.schedule);
    await env.connected(8 * 3600);
    expect(hand.live().map((a) => a.delayMs)).toEqual([8 * HOUR]);
    await env.connected(3600, other);
    expect(hand.live().map((a) => a.delayMs)).toEqual([HOUR]);
    env.clock.advance(HOUR);
    hand.fire();
    expect(findActiveClient(env.deps.db, other.thumbprint)?.status).toBe('pending');
    expect(findActiveClient(env.deps.db, signer.thumbprint)?.status).toBe('approved');
    expect(hand.live().map((a) => a.delayMs)).toEqual([7 * HOUR]);
    timer.stop();
    expect(hand.live()).toEqual([]);
  });

  it('without the timer, the next mint finds the approval over: pending, audited, no credential', async () => {
    const env = setup();
    const start = env.clock.now();
    await env.connected(3600);
    env.clock.advance(HOUR);
    const answer = await env.mintFor();
    expect(answer).toMatchObject({ status: 'pending_approval', approvalStatus: 'pending' });
    expect(findActiveClient(env.deps.db, signer.thumbprint)).toMatchObject({ status: 'pending', approvalExpiredAt: iso(start + HOUR), requestCount: 1 });
    expect(listAudit(env.deps).filter((a) => a.action === 'approval_expired')).toHaveLength(1);
    expect(sessionRows(env).map((s) => s.endedAt)).toEqual([start + HOUR]);
  });

  it('one millisecond before the end the approval still works', async () => {
    const env = setup();
    await env.connected(3600);
    env.clock.advance(HOUR - 1);
    expect((await env.mintFor()).status).toBe('authorized');
  });

  it('without the timer, redeeming a credential minted before the end is refused after it, and the row goes back to pending', async () => {
    const env = setup();
    await env.mintFor();
    approveClient(env.deps, signer.thumbprint, 'web', 60);
    const minted = await env.mintFor();
    if (minted.status !== 'authorized') throw new Error('not authorized');
    env.clock.advance(60_000);
    await expect(env.redeem(minted.credential)).rejects.toMatchObject({ reason: 'invalid_grant' });
    expect(findActiveClient(env.deps.db, signer.thumbprint)?.status).toBe('pending');
    expect(listAudit(env.deps, { limit: 1 })[0]).toMatchObject({ actor: 'system', action: 'approval_expired' });
  });

  it('without the timer, a client session is refused at the end, and the row goes back to pending', async () => {
    const env = setup();
    const token = await env.connected(3600);
    // Its approval is shortened: an older, longer session cannot outlive the new end either.
    approveClient(env.deps, signer.thumbprint, 'web', 600);
    expect(sessionRows(env).map((s) => s.expiresAt)).toEqual([env.clock.now() + 600_000]);
    env.clock.advance(600_000);
    await expect(env.authenticate(token)).rejects.toMatchObject({ reason: 'invalid_token' });
    expect(findActiveClient(env.deps.db, signer.thumbprint)?.status).toBe('pending');
  });

  it('approving again until revoked clears the end; expiring twice records one entry', async () => {
    const env = setup();
    await env.connected(3600);
    approveClient(env.deps, signer.thumbprint, 'web');
    env.clock.advance(HOUR * 2);
    expect(expireDueApprovals(env.deps)).toEqual([]);
    expect(findActiveClient(env.deps.db, signer.thumbprint)).toMatchObject({ status: 'approved', approvalExpiresAt: null });
    approveClient(env.deps, signer.thumbprint, 'web', 60);
    env.clock.advance(60_000);
    expect(expireDueApprovals(env.deps)).toHaveLength(1);
    expect(expireDueApprovals(env.deps)).toEqual([]);
    expect(listAudit(env.deps).filter((a) => a.action === 'approval_expired')).toHaveLength(1);
  });

  it('connect.clients.approve takes expiresInSeconds and refuses lifetimes out of range', async () => {
    const env = setup();
    await env.mintFor();
    const caller = envRouter.createCaller(ownerContext(env.deps));
    for (const bad of [0, -5, 59, 1.5, 30 * 86_400 + 1]) {
      await expect(caller.connect.clients.approve({ clientProofKeyThumbprint: signer.thumbprint, expiresInSeconds: bad })).rejects.toBeInstanceOf(TRPCError);
    }
    expect(findActiveClient(env.deps.db, signer.thumbprint)?.status).toBe('pending');
    const { client } = await caller.connect.clients.approve({ clientProofKeyThumbprint: signer.thumbprint, expiresInSeconds: 30 * 86_400 });
    expect(client.approvalExpiresAt).toBe(iso(env.clock.now() + 30 * 86_400_000));
  });
});

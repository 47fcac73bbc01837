// The client state machine (SPEC §5.2, §13) against a small model, with fast-check: random sequences of
// requests from several accounts, mints, approve (with lifetimes, expiring on the injected clock)/
// reject/revoke, mode switches, invites (create, revoke, join with a right or wrong proof), key
// rotation and approver rights (set, and decisions by an approver). After every step the stored rows
// and invites match the model and every table CHECK-level invariant holds.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SecurityMode } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../../shared/dpop';
import { inviteProof } from '../../../shared/invite';
import { createKeyRotationProof } from '../../../shared/key-rotation';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { decideAsApprover, setApprover } from './approvers.service';
import { createInvite, listOpenInvites, revokeInvite } from './invites.service';
import { rotateClientKey } from './key-rotation.service';
import { listClients } from './clients.service';
import { requestClient } from './client-requests.service';
import { approveClient, rejectClient, revokeClient } from './client-decisions.service';
import { expireDueApprovals } from './approval-expiry.service';
import { setSecurityMode } from './security-mode.service';

const RELAY = 'https://relay.test';
const ENV_ID = 'env_property';
const LINKED = 'owner';
const ACCOUNTS = [LINKED, 'alice', 'mallory'];
/** Two fake keys, and two real ones that a rotation can move an approval to (its proof is signed by them). */
const KEYS = 4;
let THUMBPRINTS: string[] = [];
let rotationKeys: DpopSigner[] = [];
const WEEK = 7 * 86_400;

type Action =
  | { kind: 'request'; t: number; account: string }
  | { kind: 'mint'; t: number; account: string }
  | { kind: 'approve'; t: number; lifetimeSeconds: number | undefined }
  | { kind: 'reject' | 'revoke'; t: number }
  | { kind: 'timer' }
  | { kind: 'mode'; mode: SecurityMode }
  | { kind: 'tick'; ms: number }
  | { kind: 'invite'; lifetimeSeconds: number }
  | { kind: 'inviteRevoke'; i: number }
  | { kind: 'join'; t: number; i: number; wrongKey: boolean }
  | { kind: 'rotate'; t: number; k: number }
  | { kind: 'setApprover'; t: number | undefined; on: boolean }
  | { kind: 'approverDecide'; by: number | undefined; t: number; decision: 'approve' | 'reject'; lifetimeSeconds: number | undefined };

// Mostly the fake keys, so rows exist to act on; the real ones, a rotation's targets, now and then too.
const t = fc.constantFrom(0, 0, 0, 1, 1, 1, 2, 3);
const i = fc.integer({ min: 0, max: 2 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('request' as const), t, account: fc.constantFrom(...ACCOUNTS) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('mint' as const), t, account: fc.constantFrom(LINKED, LINKED, LINKED, 'mallory') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('reject' as const, 'revoke' as const), t }) },
  // Approval lifetimes (SPEC §13): until revoked, or a few minutes that the ticks can run past.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('approve' as const), t, lifetimeSeconds: fc.option(fc.integer({ min: 60, max: 20 * 60 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'timer' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom<SecurityMode>('account', 'client-approval') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 10 * 60_000 }) }) },
  // Invites (SPEC §13): a few minutes that the ticks can run past; joins with the right key's proof or another's.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('invite' as const), lifetimeSeconds: fc.integer({ min: 60, max: 20 * 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('inviteRevoke' as const), i }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('join' as const), t, i, wrongKey: fc.constantFrom(false, false, false, true) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rotate' as const), t, k: fc.integer({ min: 0, max: 1 }) }) },
  // `t` absent: an approved device of the model, if any (so approvers exist often enough to act).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('setApprover' as const), t: fc.option(t, { nil: undefined, freq: 2 }), on: fc.constantFrom(true, true, false) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('approverDecide' as const),
      // Absent: a device the model holds as an approver right now (so decisions by approvers do happen).
      by: fc.option(t, { nil: undefined, freq: 3 }),
      t,
      decision: fc.constantFrom('approve' as const, 'reject' as const),
      lifetimeSeconds: fc.option(fc.constantFrom(60, 600, 1200, WEEK, WEEK + 1), { nil: undefined, freq: 6 }),
    }),
  },
);

interface ModelClient {
  status: 'pending' | 'approved' | 'rejected';
  accountId: string;
  decidedAt: string | null;
  seen: boolean;
  /** The approval's end (ISO), or null: until revoked / not approved. */
  expiresAt: string | null;
  /** The owner lets it approve others (only while approved). */
  approver: boolean;
}
interface ModelInvite {
  inviteId: string;
  secret: string;
  expiresAt: number;
  usedBy: string | null;
  revoked: boolean;
}
type Model = { mode: SecurityMode; clients: Map<string, ModelClient>; invites: ModelInvite[] };

interface RawRow {
  client_proof_key_thumbprint: string;
  account_id: string;
  status: string;
  approved_at: string | null;
  rejected_at: string | null;
  revoked_at: string | null;
  last_seen_at: string | null;
  approval_expires_at: string | null;
  approver: number;
}

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
  rotationKeys = [await createDpopSigner(await generateDpopKeyPair(false)), await createDpopSigner(await generateDpopKeyPair(false))];
  THUMBPRINTS = [fakeThumbprint(1), fakeThumbprint(2), ...rotationKeys.map((k) => k.thumbprint)];
});

const setup = () => createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: ENV_ID, accountId: LINKED });

const raw = (deps: ReturnType<typeof setup>['deps']) =>
  deps.db.$client.prepare('SELECT * FROM connect_clients ORDER BY client_proof_key_thumbprint').all() as RawRow[];

/** What the model says a request (or a mint's upsert) does (SPEC §5.2). */
function modelRequest(model: Model, thumbprint: string, accountId: string) {
  const current = model.clients.get(thumbprint);
  if (!current || current.accountId !== accountId) {
    model.clients.set(thumbprint, { status: 'pending', accountId, decidedAt: null, seen: false, expiresAt: null, approver: false });
  }
}

/** An approval past its end is pending again (the timer, or the check at every use). */
function modelLapse(model: Model, thumbprint: string, now: number) {
  const current = model.clients.get(thumbprint);
  if (current?.status === 'approved' && current.expiresAt !== null && Date.parse(current.expiresAt) <= now) {
    model.clients.set(thumbprint, { ...current, status: 'pending', decidedAt: null, seen: false, expiresAt: null, approver: false });
  }
}

/** The one refusal a step may meet, as the services throw it; the step then changes nothing. */
function refusal(work: () => unknown): unknown {
  try {
    work();
  } catch (e) {
    return e;
  }
  return undefined;
}
async function asyncRefusal(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (e) {
    return e;
  }
  return undefined;
}

function checkInvariants(env: ReturnType<typeof setup>, model: Model) {
  const rows = raw(env.deps);
  for (const row of rows) {
    // The CHECKs, restated: one decision timestamp at most, matching the status; seen only while approved.
    expect(['pending', 'approved', 'rejected']).toContain(row.status);
    expect(row.approved_at === null || row.rejected_at === null).toBe(true);
    expect(row.status === 'approved').toBe(row.approved_at !== null);
    expect(row.status === 'rejected').toBe(row.rejected_at !== null);
    if (row.last_seen_at !== null) expect(row.status).toBe('approved');
    if (row.revoked_at !== null) expect(row).toMatchObject({ status: 'pending', approved_at: null, rejected_at: null, last_seen_at: null });
    if (row.approval_expires_at !== null) expect(row.status).toBe('approved');
    if (row.approver) expect(row.status).toBe('approved');
  }
  const active = rows.filter((r) => r.revoked_at === null);
  expect(Object.fromEntries(active.map((r) => [r.client_proof_key_thumbprint, { status: r.status, accountId: r.account_id, decidedAt: r.approved_at ?? r.rejected_at, seen: r.last_seen_at !== null, expiresAt: r.approval_expires_at, approver: !!r.approver }]))).toEqual(
    Object.fromEntries(model.clients),
  );
  // Revoked rows are invisible to the list.
  expect(listClients(env.deps).map((c) => c.clientProofKeyThumbprint).sort()).toEqual([...model.clients.keys()].sort());
  // Nothing that is not approved holds an unredeemed credential minted under client-approval.
  const creds = env.deps.db.$client
    .prepare("SELECT client_proof_key_thumbprint AS t FROM connect_credentials WHERE redeemed_at IS NULL AND security_mode = 'client-approval'")
    .all() as Array<{ t: string }>;
  for (const { t: thumbprint } of creds) expect(model.clients.get(thumbprint)?.status).toBe('approved');
  // Invites: the open ones are the model's, each used one names the key that used it.
  const now = env.clock.now();
  expect(listOpenInvites(env.deps).map((x) => x.inviteId).sort()).toEqual(model.invites.filter((x) => !x.usedBy && !x.revoked && x.expiresAt > now).map((x) => x.inviteId).sort());
  const used = env.deps.db.$client.prepare('SELECT invite_id AS id, used_by_thumbprint AS t FROM connect_invites WHERE used_at IS NOT NULL').all() as Array<{ id: string; t: string }>;
  expect(Object.fromEntries(used.map((u) => [u.id, u.t]))).toEqual(Object.fromEntries(model.invites.filter((x) => x.usedBy).map((x) => [x.inviteId, x.usedBy])));
}

/** An approval in force for deciding as an approver: approved and marked (its sessions end with the approval). */
/** As isApprover: approved, flagged, and its approval's end (if any) not yet reached at `now`, timer run or not. */
const isModelApprover = (c: ModelClient | undefined, now: number) => c?.status === 'approved' && c.approver && (c.expiresAt === null || Date.parse(c.expiresAt) > now);

async function step(env: ReturnType<typeof setup>, model: Model, a: Action) {
  const { deps, clock, mint, sign } = env;
  const now = () => isoTime(clock.now());
  switch (a.kind) {
    case 'tick':
      clock.advance(a.ms);
      return;
    case 'timer':
      expireDueApprovals(deps);
      for (const thumbprint of THUMBPRINTS) modelLapse(model, thumbprint, clock.now());
      return;
    case 'mode':
      setSecurityMode(deps, a.mode, 'api');
      model.mode = a.mode;
      return;
    case 'invite': {
      const created = createInvite(deps, { expiresInSeconds: a.lifetimeSeconds }, 'api', { environmentId: ENV_ID, publicUrl: 'http://127.0.0.1:1' });
      model.invites.push({ inviteId: created.inviteId, secret: created.secret, expiresAt: Date.parse(created.expiresAt), usedBy: null, revoked: false });
      return;
    }
    case 'inviteRevoke': {
      const invite = model.invites[a.i];
      if (!invite) return;
      const error = refusal(() => revokeInvite(deps, invite.inviteId, 'api'));
      if (invite.usedBy || invite.revoked || invite.expiresAt <= clock.now()) expect(error).toMatchObject({ kind: 'not_found' });
      else {
        expect(error).toBeUndefined();
        invite.revoked = true;
      }
      return;
    }
    case 'join': {
      const invite = model.invites[a.i];
      if (!invite) return;
      const thumbprint = THUMBPRINTS[a.t]!;
      const presented = { inviteId: invite.inviteId, proof: await inviteProof(invite.secret, THUMBPRINTS[a.wrongKey ? (a.t + 1) % KEYS : a.t]!) };
      const answer = mint.mint(await sign(thumbprint, { invite: presented }), new AbortController().signal);
      if (model.mode === 'account') {
        // Account mode never reads the invite: it stays as it was.
        expect((await answer).status).toBe('authorized');
        return;
      }
      const usable = !a.wrongKey && !invite.revoked && (invite.usedBy === thumbprint || (invite.usedBy === null && invite.expiresAt > clock.now()));
      if (!usable) {
        // Wrong key, used by another, revoked or expired: the one refusal, and nothing recorded.
        await expect(answer).rejects.toMatchObject({ kind: 'forbidden', reason: 'invite_invalid' });
        return;
      }
      const result = await answer;
      modelLapse(model, thumbprint, clock.now());
      if (invite.usedBy === thumbprint) {
        // Its own invite again: an ordinary request of that key.
        modelRequest(model, thumbprint, LINKED);
        const client = model.clients.get(thumbprint)!;
        if (client.status === 'approved') {
          expect(result.status).toBe('authorized');
          client.seen = true;
        } else expect(result).toMatchObject({ status: 'pending_approval', approvalStatus: client.status });
        return;
      }
      modelRequest(model, thumbprint, LINKED);
      const current = model.clients.get(thumbprint)!;
      expect(result.status).toBe('authorized');
      invite.usedBy = thumbprint;
      model.clients.set(thumbprint, { ...current, status: 'approved', decidedAt: now(), seen: true, expiresAt: null, approver: current.status === 'approved' && current.approver });
      return;
    }
    case 'rotate': {
      const oldThumbprint = THUMBPRINTS[a.t]!;
      const newKey = rotationKeys[a.k]!;
      const current = model.clients.get(oldThumbprint);
      const proof = await createKeyRotationProof(newKey, { environmentId: ENV_ID, oldThumbprint, now: clock.now() });
      const session = { clientProofKeyThumbprint: oldThumbprint, accountId: current?.accountId ?? LINKED, scopes: ['environment:use'], expiresAt: clock.now() + 60_000, sessionTokenHash: 'x'.repeat(64) };
      const error = await asyncRefusal(() => rotateClientKey(deps, session, ENV_ID, proof));
      if (newKey.thumbprint === oldThumbprint) expect(error).toMatchObject({ kind: 'bad_request' });
      else if (model.clients.has(newKey.thumbprint)) expect(error).toMatchObject({ kind: 'conflict' });
      else if (current?.status !== 'approved') expect(error).toMatchObject({ kind: 'not_found' });
      else {
        // The approval moves as it is (its lifetime and approver right too); the old key has none left.
        expect(error).toBeUndefined();
        model.clients.delete(oldThumbprint);
        model.clients.set(newKey.thumbprint, { ...current, seen: false });
      }
      return;
    }
    case 'setApprover': {
      const thumbprint = a.t !== undefined ? THUMBPRINTS[a.t]! : ([...model.clients].find(([, c]) => c.status === 'approved')?.[0] ?? THUMBPRINTS[0]!);
      const current = model.clients.get(thumbprint);
      const error = refusal(() => setApprover(deps, thumbprint, a.on, 'api'));
      if (current?.status !== 'approved') expect(error).toMatchObject({ kind: 'not_found' });
      else {
        expect(error).toBeUndefined();
        current.approver = a.on;
      }
      return;
    }
    case 'approverDecide': {
      const thumbprint = THUMBPRINTS[a.t]!;
      const by = a.by !== undefined ? THUMBPRINTS[a.by]! : ([...model.clients].find(([k, c]) => k !== thumbprint && isModelApprover(c, clock.now()))?.[0] ?? THUMBPRINTS[0]!);
      const current = model.clients.get(thumbprint);
      const error = refusal(() => decideAsApprover(deps, by, thumbprint, a.decision, a.lifetimeSeconds));
      // S59, in the order the service checks: never itself, at most 7 days, still an approver, then the target.
      if (by === thumbprint) expect(error).toMatchObject({ kind: 'forbidden' });
      else if (a.decision === 'approve' && (a.lifetimeSeconds === undefined || a.lifetimeSeconds > WEEK)) expect(error).toMatchObject({ kind: 'bad_request' });
      else if (!isModelApprover(model.clients.get(by), clock.now())) expect(error).toMatchObject({ kind: 'forbidden' });
      else if (!current) expect(error).toMatchObject({ kind: 'not_found' });
      else {
        expect(error).toBeUndefined();
        if (a.decision === 'approve') {
          model.clients.set(thumbprint, { ...current, status: 'approved', decidedAt: now(), seen: current.status === 'approved' && current.seen, expiresAt: isoTime(clock.now() + a.lifetimeSeconds! * 1000) });
        } else model.clients.set(thumbprint, { ...current, status: 'rejected', decidedAt: now(), seen: false, expiresAt: null, approver: false });
      }
      return;
    }
    case 'request':
      requestClient(deps, { clientProofKeyThumbprint: THUMBPRINTS[a.t]!, accountId: a.account });
      modelLapse(model, THUMBPRINTS[a.t]!, clock.now());
      modelRequest(model, THUMBPRINTS[a.t]!, a.account);
      return;
    case 'mint': {
      const thumbprint = THUMBPRINTS[a.t]!;
      const answer = mint.mint(await sign(thumbprint, { accountId: a.account }), new AbortController().signal);
      if (a.account !== LINKED) {
        await expect(answer).rejects.toMatchObject({ kind: 'forbidden' });
        return;
      }
      const result = await answer;
      if (model.mode === 'account') {
        // Account mode never consults or records approval rows.
        expect(result.status).toBe('authorized');
        return;
      }
      modelLapse(model, thumbprint, clock.now());
      modelRequest(model, thumbprint, a.account);
      const client = model.clients.get(thumbprint)!;
      if (client.status === 'approved') {
        expect(result.status).toBe('authorized');
        client.seen = true;
      } else {
        expect(result).toMatchObject({ status: 'pending_approval', approvalStatus: client.status });
        expect(result).not.toHaveProperty('credential');
      }
      return;
    }
    default: {
      const thumbprint = THUMBPRINTS[a.t]!;
      const act = a.kind === 'approve' ? (d: typeof deps, tp: string, actor: 'api') => approveClient(d, tp, actor, a.lifetimeSeconds) : { reject: rejectClient, revoke: revokeClient }[a.kind];
      const current = model.clients.get(thumbprint);
      if (!current) {
        // Absent or revoked: NOT_FOUND, and nothing changes.
        let error: unknown;
        try {
          act(deps, thumbprint, 'api');
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(DomainError);
        expect(error).toMatchObject({ kind: 'not_found', message: `No active Connect client found for ${thumbprint}.` });
        return;
      }
      act(deps, thumbprint, 'api');
      if (a.kind === 'revoke') model.clients.delete(thumbprint);
      else if (a.kind === 'approve') {
        const expiresAt = a.lifetimeSeconds === undefined ? null : isoTime(clock.now() + a.lifetimeSeconds * 1000);
        model.clients.set(thumbprint, { ...current, status: 'approved', decidedAt: now(), seen: current.status === 'approved' && current.seen, expiresAt });
      } else model.clients.set(thumbprint, { ...current, status: 'rejected', decidedAt: now(), seen: false, expiresAt: null, approver: false });
    }
  }
}

describe('client state machine, property-based', () => {
  it('S38 S42 S43 S59 random request/mint/approve (with lifetimes)/reject/revoke/timer/mode/invite/rotation/approver sequences from several accounts keep the model and the CHECKs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<SecurityMode>('account', 'client-approval', 'client-approval', 'client-approval'), fc.array(action, { minLength: 20, maxLength: 80 }), async (mode, actions) => {
        const env = setup();
        setSecurityMode(env.deps, mode, 'api');
        const model: Model = { mode, clients: new Map(), invites: [] };
        try {
          for (const a of actions) {
            await step(env, model, a);
            checkInvariants(env, model);
          }
        } finally {
          env.deps.db.$client.close();
        }
      }),
      { numRuns: 120 },
    );
  });

  it('S59 approver rights: an approver decides about others only while it is one; owner revokes, expiries and rotations move or end the right', async () => {
    // Starts with key 0 approved (until revoked, or for a few minutes) and marked approver, key 1 waiting.
    const approverAction: fc.Arbitrary<Action> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('approverDecide' as const),
          by: fc.option(t, { nil: undefined, freq: 4 }),
          t,
          decision: fc.constantFrom('approve' as const, 'approve' as const, 'reject' as const),
          lifetimeSeconds: fc.option(fc.constantFrom(60, 600, WEEK, WEEK + 1), { nil: undefined, freq: 8 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('setApprover' as const), t: fc.option(t, { nil: undefined, freq: 2 }), on: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('revoke' as const, 'reject' as const), t }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('approve' as const), t, lifetimeSeconds: fc.option(fc.integer({ min: 60, max: 20 * 60 }), { nil: undefined }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('request' as const), t, account: fc.constant(LINKED) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('rotate' as const), t: fc.constantFrom(0, 2, 3), k: fc.integer({ min: 0, max: 1 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 10 * 60_000 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'timer' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.option(fc.integer({ min: 60, max: 20 * 60 }), { nil: undefined }), fc.array(approverAction, { minLength: 5, maxLength: 40 }), async (lifetimeSeconds, actions) => {
        const env = setup();
        setSecurityMode(env.deps, 'client-approval', 'api');
        const model: Model = { mode: 'client-approval', clients: new Map(), invites: [] };
        const prelude: Action[] = [
          // Keys 2 and 3 start unknown: free for a rotation to move the approver to.
          ...[0, 1].map((k): Action => ({ kind: 'request', t: k, account: LINKED })),
          { kind: 'approve', t: 0, lifetimeSeconds },
          { kind: 'setApprover', t: 0, on: true },
        ];
        try {
          for (const a of [...prelude, ...actions]) {
            await step(env, model, a);
            checkInvariants(env, model);
          }
        } finally {
          env.deps.db.$client.close();
        }
      }),
      { numRuns: 80 },
    );
  });

  it('S43 switching modes back and forth never approves anyone and keeps every decision', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom<SecurityMode>('account', 'client-approval'), { minLength: 1, maxLength: 12 }), async (modes) => {
        const env = setup();
        try {
          for (const [i, thumbprint] of THUMBPRINTS.entries()) {
            requestClient(env.deps, { clientProofKeyThumbprint: thumbprint, accountId: LINKED });
            if (i === 1) approveClient(env.deps, thumbprint, 'web');
            if (i === 2) rejectClient(env.deps, thumbprint, 'web');
          }
          const before = raw(env.deps);
          for (const mode of modes) setSecurityMode(env.deps, mode, 'web');
          expect(raw(env.deps)).toEqual(before);
        } finally {
          env.deps.db.$client.close();
        }
      }),
      { numRuns: 30 },
    );
  });
});

// The client state machine (SPEC §5.2) against a small model, with fast-check: random sequences of
// requests from several accounts, mints, approve/reject/revoke and mode switches. After every step
// the stored rows match the model and every table CHECK-level invariant holds.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SecurityMode } from '../../../shared/contracts';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { createLinkedMintEnv, createRelayTestKey, fakeThumbprint, type RelayTestKey } from '../testing';
import { listClients } from './clients.service';
import { requestClient } from './client-requests.service';
import { approveClient, rejectClient, revokeClient } from './client-decisions.service';
import { expireDueApprovals } from './approval-expiry.service';
import { setSecurityMode } from './security-mode.service';

const RELAY = 'https://relay.test';
const ENV_ID = 'env_property';
const LINKED = 'owner';
const THUMBPRINTS = [1, 2].map(fakeThumbprint);
const ACCOUNTS = [LINKED, 'alice', 'mallory'];

type Action =
  | { kind: 'request'; t: number; account: string }
  | { kind: 'mint'; t: number; account: string }
  | { kind: 'approve'; t: number; lifetimeSeconds: number | undefined }
  | { kind: 'reject' | 'revoke'; t: number }
  | { kind: 'timer' }
  | { kind: 'mode'; mode: SecurityMode }
  | { kind: 'tick'; ms: number };

const t = fc.integer({ min: 0, max: THUMBPRINTS.length - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('request' as const), t, account: fc.constantFrom(...ACCOUNTS) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('mint' as const), t, account: fc.constantFrom(LINKED, LINKED, LINKED, 'mallory') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('reject' as const, 'revoke' as const), t }) },
  // Approval lifetimes (SPEC §13): until revoked, or a few minutes that the ticks can run past.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('approve' as const), t, lifetimeSeconds: fc.option(fc.integer({ min: 60, max: 20 * 60 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'timer' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom<SecurityMode>('account', 'client-approval') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 10 * 60_000 }) }) },
);

interface ModelClient {
  status: 'pending' | 'approved' | 'rejected';
  accountId: string;
  decidedAt: string | null;
  seen: boolean;
  /** The approval's end (ISO), or null: until revoked / not approved. */
  expiresAt: string | null;
}
type Model = { mode: SecurityMode; clients: Map<string, ModelClient> };

interface RawRow {
  client_proof_key_thumbprint: string;
  account_id: string;
  status: string;
  approved_at: string | null;
  rejected_at: string | null;
  revoked_at: string | null;
  last_seen_at: string | null;
  approval_expires_at: string | null;
}

let relayKey: RelayTestKey;
beforeAll(async () => {
  relayKey = await createRelayTestKey();
});

const setup = () => createLinkedMintEnv(relayKey, { relayIssuer: RELAY, environmentId: ENV_ID, accountId: LINKED });

const raw = (deps: ReturnType<typeof setup>['deps']) =>
  deps.db.$client.prepare('SELECT * FROM connect_clients ORDER BY client_proof_key_thumbprint').all() as RawRow[];

/** What the model says a request (or a mint's upsert) does (SPEC §5.2). */
function modelRequest(model: Model, thumbprint: string, accountId: string) {
  const current = model.clients.get(thumbprint);
  if (!current || current.accountId !== accountId) {
    model.clients.set(thumbprint, { status: 'pending', accountId, decidedAt: null, seen: false, expiresAt: null });
  }
}

/** An approval past its end is pending again (the timer, or the check at every use). */
function modelLapse(model: Model, thumbprint: string, now: number) {
  const current = model.clients.get(thumbprint);
  if (current?.status === 'approved' && current.expiresAt !== null && Date.parse(current.expiresAt) <= now) {
    model.clients.set(thumbprint, { ...current, status: 'pending', decidedAt: null, seen: false, expiresAt: null });
  }
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
  }
  const active = rows.filter((r) => r.revoked_at === null);
  expect(Object.fromEntries(active.map((r) => [r.client_proof_key_thumbprint, { status: r.status, accountId: r.account_id, decidedAt: r.approved_at ?? r.rejected_at, seen: r.last_seen_at !== null, expiresAt: r.approval_expires_at }]))).toEqual(
    Object.fromEntries(model.clients),
  );
  // Revoked rows are invisible to the list.
  expect(listClients(env.deps).map((c) => c.clientProofKeyThumbprint).sort()).toEqual([...model.clients.keys()].sort());
  // Nothing that is not approved holds an unredeemed credential minted under client-approval.
  const creds = env.deps.db.$client
    .prepare("SELECT client_proof_key_thumbprint AS t FROM connect_credentials WHERE redeemed_at IS NULL AND security_mode = 'client-approval'")
    .all() as Array<{ t: string }>;
  for (const { t: thumbprint } of creds) expect(model.clients.get(thumbprint)?.status).toBe('approved');
}

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
      } else model.clients.set(thumbprint, { ...current, status: 'rejected', decidedAt: now(), seen: false, expiresAt: null });
    }
  }
}

describe('client state machine, property-based', () => {
  it('S38 S42 S43 random request/mint/approve (with lifetimes)/reject/revoke/timer/mode sequences from several accounts keep the model and the CHECKs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<SecurityMode>('account', 'client-approval'), fc.array(action, { minLength: 1, maxLength: 40 }), async (mode, actions) => {
        const env = setup();
        setSecurityMode(env.deps, mode, 'api');
        const model: Model = { mode, clients: new Map() };
        try {
          for (const a of actions) {
            await step(env, model, a);
            checkInvariants(env, model);
          }
        } finally {
          env.deps.db.$client.close();
        }
      }),
      { numRuns: 150 },
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

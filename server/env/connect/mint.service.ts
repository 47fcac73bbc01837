// Minting (SPEC §5.3): verify, decide in one BEGIN IMMEDIATE transaction, sign after commit, and
// hold a pending answer open until the owner decides (event-driven, no polling inside the server).
import { eq } from 'drizzle-orm';
import { isoTime } from '../../common/clock';
import { DomainError } from '../../common/errors';
import { securityLogOf } from '../../common/security-log';
import { createTokenBucket } from '../../common/token-bucket';
import { MintProtocolError, mintResponseBody, precheckMintRequest, signMintResponse, verifyPrecheckedMintRequest, type MintDecision, type PrecheckedMintJws, type MintRequestClaims, type MintResponseBody, type MintSigningKey } from '../../mint/mint-protocol';
import { createCommitGroup } from '../db/commit-group';
import type { EnvDb } from '../db/database';
import { hotQueries } from '../db/hot-queries';
import { connectClients, type ConnectClientRow } from '../db/schema';
import type { EnvDeps } from '../deps';
import { requireRelayLink } from '../link/link.service';
import { expireApprovalInTx, publishExpired, type ExpiredApproval } from './approval-expiry.service';
import { findActiveClient, findClientRow, hasActiveClient } from './clients.service';
import { publishRequestEvents, requestClientInTx, type RequestOutcome } from './client-requests.service';
import { PENDING_CAP } from './pending-bounds';
import { recordFlood } from './lockdown.service';
import { checkInviteInTx, joinWithInviteInTx } from './invites.service';
import { issueCredential } from './credentials.service';
import { toConnectClient } from './client-view';
import { consumeMarker, pruneMarkers } from './replay';
import { readSecurityModeState } from './security-mode.service';
import type { SecurityMode } from '../../../shared/contracts';

export const RETRY_AFTER_SECONDS = 5;
const MARKER_SLACK_MS = 60_000;
/** Decisions committed together: the event loop is held for at most this many and one fsync. */
const DECISIONS_PER_COMMIT = 64;
/** Decisions for keys never seen before, committed per event-loop turn, so a flood waits its turn. */
const NEW_CLIENTS_PER_TURN = 4;

/** How known clients' and account-mode decisions reach the disk: the benchmark floor L commits through this too. */
export const createDecisionCommitGroup = (db: EnvDb) => createCommitGroup(db, DECISIONS_PER_COMMIT);

type Decision = MintDecision;

export interface MintServiceOptions {
  deps: EnvDeps;
  environmentId: string;
  signingKey: MintSigningKey;
  /** Pending requests held open at once; beyond it a request is refused with 429. */
  maxWaiters?: number;
  /** New pending clients admitted per environment (S44): a token bucket, 20/s with bursts of 100 by default. */
  newClientRateLimit?: { perSecond: number; burst: number };
  /** New pending clients admitted per relay-signed source address: 2/s with bursts of 10 by default. */
  newClientRateLimitPerSource?: { perSecond: number; burst: number };
}

/** Sources remembered for their share of new clients; the oldest is forgotten first. */
const MAX_TRACKED_SOURCES = 10_000;

function modeOrFail(tx: EnvDb): SecurityMode {
  const state = readSecurityModeState(tx);
  if (state.mode === null) throw new DomainError('internal', 'security_mode_unreadable', state.error);
  return state.mode;
}

/** In client-approval mode: an approved client gets a credential (and `last_seen_at`, `updated_at`); others a pending answer. */
function decideForClient(tx: EnvDb, now: number, claims: MintRequestClaims, mode: SecurityMode, current?: ConnectClientRow, expired?: ExpiredApproval[]): Decision {
  const thumbprint = claims.clientProofKeyThumbprint;
  if (mode === 'account') {
    return { status: 'authorized', ...issueCredential(tx, now, { thumbprint, accountId: claims.sub, securityMode: mode, clientVersion: null }) };
  }
  // `current`: the row as this transaction just wrote it, so it need not be read again.
  let row = current ?? findClientRow(tx, thumbprint);
  const lapsed = row && !current ? expireApprovalInTx(tx, now, row) : null;
  if (lapsed) {
    expired?.push(lapsed);
    row = lapsed.row;
  }
  if (row && row.revokedAt === null && row.status === 'approved' && row.accountId === claims.sub) {
    hotQueries(tx).markClientSeen.run({ at: isoTime(now), thumbprint });
    return { status: 'authorized', ...issueCredential(tx, now, { thumbprint, accountId: claims.sub, securityMode: mode, clientVersion: row.version }) };
  }
  const rejected = row?.revokedAt === null && row.status === 'rejected';
  return { status: 'pending_approval', approvalStatus: rejected ? 'rejected' : 'pending', requestedAt: row?.requestedAt ?? isoTime(now) };
}

export function createMintService(opts: MintServiceOptions) {
  const { deps, environmentId, signingKey } = opts;
  const maxWaiters = opts.maxWaiters ?? PENDING_CAP;
  let waiting = 0;
  let mints = 0;
  // One held wait per key (S54): a newer wait for the same key releases the older one.
  const waitOf = new Map<string, AbortController>();
  // Decisions commit together (one fsync per group). Keys never seen before in client-approval mode
  // have their own, smaller groups: a flood of new keys then waits in that queue, a few per turn,
  // instead of in front of an approved client or the owner's page.
  const knownClientGroup = createDecisionCommitGroup(deps.db);
  const newClientGroup = createCommitGroup(deps.db, NEW_CLIENTS_PER_TURN);
  // Only registrations of new pending clients take from it: approved and known clients never do.
  const newClients = createTokenBucket(opts.newClientRateLimit ?? { perSecond: 20, burst: PENDING_CAP });
  // Per source (the caller's address, signed by the relay): one device minting fresh keys runs out of
  // its own share before it can drain the environment's (S44).
  const bySource = new Map<string, ReturnType<typeof createTokenBucket>>();
  const sourceRate = opts.newClientRateLimitPerSource ?? { perSecond: 2, burst: 10 };
  function admitFromSource(address: string | undefined, now: number): boolean {
    if (!address) return true;
    let bucket = bySource.get(address);
    if (!bucket) {
      if (bySource.size >= MAX_TRACKED_SOURCES) bySource.delete(bySource.keys().next().value!); // oldest first
      bySource.set(address, (bucket = createTokenBucket(sourceRate)));
    }
    return bucket.take(now);
  }

  const refused = (error: MintProtocolError) => new DomainError('unauthorized', 'invalid_request', `Mint request refused: ${error.message}`);

  /** The checks that need no key or database, synchronously: a malformed request is refused at once. */
  function precheck(token: unknown): PrecheckedMintJws {
    try {
      return precheckMintRequest(token, { environmentId, now: deps.clock.now() });
    } catch (error) {
      throw error instanceof MintProtocolError ? refused(error) : error;
    }
  }

  /** After the precheck, so a malformed request never costs the link read. */
  async function verify(prechecked: PrecheckedMintJws): Promise<MintRequestClaims> {
    const link = requireRelayLink(deps);
    let claims: MintRequestClaims;
    try {
      claims = await verifyPrecheckedMintRequest(prechecked, { relayPublicKey: link.relayPublicKey, relayIssuer: link.relayIssuer, environmentId, now: deps.clock.now() });
    } catch (error) {
      throw error instanceof MintProtocolError ? refused(error) : error;
    }
    if (claims.sub !== link.accountId) throw new DomainError('forbidden', 'forbidden', 'The mint request is for an account this environment is not linked to.');
    return claims;
  }

  /**
   * For the owner's details view: the address the relay saw (its signed `source`) and the software
   * the client reported (normalized, capped), each written only when it changed.
   */
  function recordSeenFacts(tx: EnvDb, claims: MintRequestClaims, outcome: RequestOutcome): void {
    const source = claims.source?.address ?? null;
    const software = claims.client?.software ?? null;
    const changed = {
      ...(source !== null && outcome.row.lastSource !== source && { lastSource: source }),
      ...(software !== null && outcome.row.software !== software && { software }),
    };
    if (Object.keys(changed).length === 0) return;
    tx.update(connectClients).set(changed).where(eq(connectClients.clientProofKeyThumbprint, claims.clientProofKeyThumbprint)).run();
    outcome.row = { ...outcome.row, ...changed };
  }

  /** Step 3: markers, decision and credential, atomic in one transaction (shared with others in its commit group). */
  function firstDecision(tx: EnvDb, claims: MintRequestClaims): { decision: Decision; outcome: (RequestOutcome & { joinedWithInvite?: boolean }) | null } {
    const now = deps.clock.now();
    const mode = modeOrFail(tx); // fail closed before any marker is consumed
    const markerExpiry = claims.exp * 1000 + MARKER_SLACK_MS;
    if (!consumeMarker(tx, 'mint-jti', claims.jti, markerExpiry) || !consumeMarker(tx, 'mint-nonce', claims.nonce, markerExpiry)) {
      securityLogOf(deps).record({ kind: 'mint_replayed', where: 'env POST /api/connect/mint-credential', thumbprint: claims.clientProofKeyThumbprint, jti: claims.jti });
      throw new DomainError('conflict', 'request_replayed', 'This mint request was already used.');
    }
    if (++mints % 500 === 0) pruneMarkers(tx, now);
    if (mode === 'account') return { decision: decideForClient(tx, now, claims, mode), outcome: null };
    const invite = claims.invite ? checkInviteInTx(tx, now, claims.invite, claims.clientProofKeyThumbprint) : null;
    if (invite?.kind === 'valid') {
      // Approved at once (SPEC §13): no limiter, no pause; the owner asked for this device.
      const request = { clientProofKeyThumbprint: claims.clientProofKeyThumbprint, accountId: claims.sub, deviceId: claims.deviceId ?? null, client: claims.client };
      const outcome = requestClientInTx(tx, now, request, undefined, (thumbprint) => waitOf.has(thumbprint), { invited: true });
      recordSeenFacts(tx, claims, outcome);
      const row = joinWithInviteInTx(tx, now, invite, outcome.row);
      return { decision: decideForClient(tx, now, claims, mode, row), outcome: { ...outcome, row, statusChanged: true, joinedWithInvite: true } };
    }
    const outcome = requestClientInTx(tx, now, {
      clientProofKeyThumbprint: claims.clientProofKeyThumbprint,
      accountId: claims.sub,
      deviceId: claims.deviceId ?? null,
      client: claims.client,
    }, () => {
      const admitted = admitFromSource(claims.source?.address, now) && newClients.take(now);
      if (!admitted) recordFlood(deps, now);
      return admitted;
    }, (thumbprint) => waitOf.has(thumbprint));
    recordSeenFacts(tx, claims, outcome);
    return { decision: decideForClient(tx, now, claims, mode, outcome.row), outcome };
  }

  async function decideAgain(claims: MintRequestClaims): Promise<Decision> {
    const expired: ExpiredApproval[] = [];
    const decision = await knownClientGroup.run((tx) => decideForClient(tx, deps.clock.now(), claims, modeOrFail(tx), undefined, expired));
    publishExpired(deps, expired);
    return decision;
  }

  /** Resolves when this client is decided, the mode changes, the wait ends or the caller goes away. */
  function waitForDecision(thumbprint: string, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (decided: boolean) => {
        clearTimeout(timer);
        offClient();
        offAccess();
        signal.removeEventListener('abort', onAbort);
        resolve(decided);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      const offClient = deps.bus.onClientSignal((s) => s.clientProofKeyThumbprint === thumbprint && s.kind === 'decided' && done(true));
      const offAccess = deps.bus.subscribe((e) => e.type === 'connectSecurityModeUpdated' && done(true));
      signal.addEventListener('abort', onAbort);
    });
  }

  function publishClient(thumbprint: string) {
    const row = findActiveClient(deps.db, thumbprint);
    if (row) deps.bus.publish({ type: 'connectClientUpserted', payload: toConnectClient(row) });
  }

  async function respond(claims: MintRequestClaims, decision: Decision): Promise<MintResponseBody> {
    const proof = await signMintResponse(signingKey, { environmentId, relayIssuer: claims.iss, request: claims, decision, now: deps.clock.now() });
    return mintResponseBody(decision, proof, RETRY_AFTER_SECONDS);
  }

  /** Scheduling only, the transaction decides: is this a key the environment has never seen? */
  function isNewClient(claims: MintRequestClaims): boolean {
    if (readSecurityModeState(deps.db).mode !== 'client-approval') return false; // account, or failing closed in the transaction
    return !hasActiveClient(deps.db, claims.clientProofKeyThumbprint);
  }

  /** `callerGone` aborts when the caller leaves: a held (waiting) answer then ends at once. */
  async function mint(token: unknown, callerGone: AbortSignal): Promise<MintResponseBody> {
    const claims = await verify(precheck(token));
    const group = isNewClient(claims) ? newClientGroup : knownClientGroup;
    const { decision, outcome } = await group.run((tx) => firstDecision(tx, claims));
    // Read again when an event goes out, so it carries the `last_seen_at` an authorized mint just set.
    if (outcome) publishRequestEvents(deps, outcome, () => findActiveClient(deps.db, claims.clientProofKeyThumbprint) ?? outcome.row);
    if (outcome?.joinedWithInvite) deps.bus.signalClient({ clientProofKeyThumbprint: claims.clientProofKeyThumbprint, kind: 'decided' });
    const waitMs = (claims.waitSeconds ?? 0) * 1000;
    if (decision.status === 'authorized' || decision.approvalStatus === 'rejected' || waitMs === 0) {
      return respond(claims, decision);
    }
    const thumbprint = claims.clientProofKeyThumbprint;
    const previous = waitOf.get(thumbprint);
    previous?.abort();
    // A full queue is said as such (429 and Retry-After), never as an instant pending that invites a loop.
    if (waiting >= maxWaiters) throw new DomainError('too_many_requests', 'rate_limited', 'The environment is holding as many waiting devices as it can; try again in a few seconds.');
    waiting++;
    const own = new AbortController();
    waitOf.set(thumbprint, own);
    const signal = AbortSignal.any([callerGone, own.signal]);
    try {
      const deadline = deps.clock.now() + waitMs;
      let current: Decision = decision;
      while (current.status === 'pending_approval' && current.approvalStatus === 'pending' && !signal.aborted) {
        const left = deadline - deps.clock.now();
        if (left <= 0 || !(await waitForDecision(claims.clientProofKeyThumbprint, left, signal))) break;
        current = await decideAgain(claims);
        if (current.status === 'authorized') publishClient(claims.clientProofKeyThumbprint);
      }
      return respond(claims, current);
    } finally {
      waiting--;
      if (waitOf.get(thumbprint) === own) waitOf.delete(thumbprint);
    }
  }

  return { mint, waiting: () => waiting };
}

export type MintService = ReturnType<typeof createMintService>;

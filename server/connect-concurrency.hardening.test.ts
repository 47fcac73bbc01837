// S40–S43 over HTTP: mints (signed mint requests at the environment, and full connects through the
// relay), redemptions, approve/reject/revoke and mode switches, all at once, for
// GATEHOUSE_SOAK_SECONDS (default 8; set 60 for the full soak). Afterwards no credential was issued
// and no session opened for a client that was not approved at that moment — checked against the
// audit log replayed in commit order — and no request was answered with a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../shared/dpop';
import { startStack, type Stack } from './testing/stack';
import { ownerCall, postMint, probe, redeem, relayAccessToken, relayConnect, signedMintRequest } from './testing/http-probe';

const SECONDS = Math.max(1, Number(process.env.GATEHOUSE_SOAK_SECONDS ?? 8));
const MAX_OPERATIONS = 200 * SECONDS;
const CLIENTS = 5;

let stack: Stack;
let signers: DpopSigner[];
beforeAll(async () => {
  stack = await startStack();
  signers = await Promise.all(Array.from({ length: CLIENTS }, () => stack.newSigner()));
  const sqlite = stack.env.deps.db.$client;
  // Test-only probes on the env's own connection: each credential and session insert records, in
  // the issuing transaction, the client's row, the mode and the audit position at that moment.
  sqlite.exec(`
    CREATE TEMP TABLE issue_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, thumbprint TEXT, credential_mode TEXT,
      credential_version INTEGER, mode TEXT, status TEXT, revoked INTEGER, account TEXT, row_version INTEGER, audit_id INTEGER);
    CREATE TEMP TRIGGER log_credential AFTER INSERT ON main.connect_credentials BEGIN
      INSERT INTO issue_log (kind, thumbprint, credential_mode, credential_version, mode, status, revoked, account, row_version, audit_id) VALUES ('credential', NEW.client_proof_key_thumbprint, NEW.security_mode, NEW.client_version,
        (SELECT security_mode FROM main.connect_settings WHERE id = 1),
        (SELECT status FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT revoked_at IS NOT NULL FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT account_id FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT version FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT max(id) FROM main.audit_log));
    END;
    CREATE TEMP TRIGGER log_session AFTER INSERT ON main.client_sessions BEGIN
      INSERT INTO issue_log (kind, thumbprint, credential_mode, credential_version, mode, status, revoked, account, row_version, audit_id) VALUES ('session', NEW.client_proof_key_thumbprint, NULL, NULL,
        (SELECT security_mode FROM main.connect_settings WHERE id = 1),
        (SELECT status FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT revoked_at IS NOT NULL FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT account_id FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT version FROM main.connect_clients WHERE client_proof_key_thumbprint = NEW.client_proof_key_thumbprint),
        (SELECT max(id) FROM main.audit_log));
    END;`);
}, 30_000);
afterAll(async () => {
  stack.env.deps.db.$client.exec('DROP TRIGGER IF EXISTS temp.log_credential; DROP TRIGGER IF EXISTS temp.log_session;');
  await stack.close();
});

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

interface Tally {
  statuses: Map<string, number>;
  operations: number;
  authorized: number;
  pending: number;
  sessions: number;
}

function count(tally: Tally, what: string, status: number) {
  const key = `${what} ${status}`;
  tally.statuses.set(key, (tally.statuses.get(key) ?? 0) + 1);
}

async function useCredential(tally: Tally, signer: DpopSigner, credential: string) {
  const redeemed = await redeem(stack, signer, credential);
  count(tally, 'POST /oauth/token (env)', redeemed.status);
  if (redeemed.status !== 200) return;
  tally.sessions++;
  const token = String(redeemed.body?.access_token);
  const url = `${stack.env.publicUrl}/trpc/client.whoami`;
  const whoami = await probe(url, { headers: { authorization: `DPoP ${token}`, DPoP: await createDpopProof(signer, { htm: 'GET', htu: url, accessToken: token }) } });
  count(tally, 'GET client.whoami', whoami.status);
}

async function mintDirect(tally: Tally) {
  const signer = pick(signers);
  const wait = Math.random() < 0.15 ? { waitSeconds: 1 } : {};
  const res = await postMint(stack, await signedMintRequest(stack, signer.thumbprint, wait));
  count(tally, 'POST mint-credential', res.status);
  if (res.body?.status === 'authorized') {
    tally.authorized++;
    await useCredential(tally, signer, String(res.body.credential));
  } else if (res.body?.status === 'pending_approval') tally.pending++;
}

async function connectThroughRelay(tally: Tally) {
  const signer = pick(signers);
  const token = await relayAccessToken(stack, signer);
  count(tally, 'POST /oauth/token (relay)', token.status);
  if (token.status !== 200) return;
  const res = await relayConnect(stack, signer, String(token.body?.access_token));
  count(tally, 'POST environments.connect', res.status);
  const data = (res.body?.result as { data?: Record<string, unknown> } | undefined)?.data;
  if (data?.status === 'authorized') {
    tally.authorized++;
    await useCredential(tally, signer, String(data.credential));
  } else if (data?.status === 'pending_approval') tally.pending++;
}

async function decide(tally: Tally) {
  const roll = Math.random();
  if (roll < 0.08) {
    const res = await ownerCall(stack, 'connect.securityMode.set', { mode: Math.random() < 0.75 ? 'client-approval' : 'account' });
    return count(tally, 'connect.securityMode.set', res.status);
  }
  const op = roll < 0.6 ? 'approve' : roll < 0.8 ? 'reject' : 'revoke';
  const res = await ownerCall(stack, `connect.clients.${op}`, { clientProofKeyThumbprint: pick(signers).thumbprint });
  count(tally, `connect.clients.${op}`, res.status);
}

async function worker(tally: Tally, deadline: number, act: (t: Tally) => Promise<void>) {
  while (Date.now() < deadline && tally.operations < MAX_OPERATIONS) {
    tally.operations++;
    await act(tally);
  }
}

interface IssueLog {
  kind: 'credential' | 'session';
  thumbprint: string;
  credential_mode: string | null;
  credential_version: number | null;
  row_version: number | null;
  mode: string | null;
  status: string | null;
  revoked: number | null;
  account: string | null;
  audit_id: number | null;
}

/** Replays the audit log (commit order) up to an id: the mode and each client's status at that point. */
function auditStateAt(entries: Array<{ id: number; action: string; client_proof_key_thumbprint: string | null; detail: string | null }>, upTo: number) {
  let mode = 'account';
  const status = new Map<string, string>();
  for (const e of entries) {
    if (e.id > upTo) break;
    const t = e.client_proof_key_thumbprint ?? '';
    if (e.action === 'security_mode_set') mode = (JSON.parse(String(e.detail)) as { to: string }).to;
    else if (e.action === 'client_requested' || e.action === 'client_account_changed') status.set(t, 'pending');
    else if (e.action === 'client_approved') status.set(t, 'approved');
    else if (e.action === 'client_rejected') status.set(t, 'rejected');
    else if (['client_revoked', 'pending_expired', 'pending_evicted'].includes(e.action)) status.delete(t);
  }
  return { mode, status };
}

describe(`mint ∥ redeem ∥ decisions ∥ mode switches over HTTP for ${SECONDS} s`, () => {
  it(
    'S40 S41 S42 S43 no credential or session for a client not approved at that moment (audit log), and never a 5xx',
    async () => {
      expect((await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' })).status).toBe(200);
      for (const signer of signers) expect((await postMint(stack, await signedMintRequest(stack, signer.thumbprint))).status).toBe(200);

      const tally: Tally = { statuses: new Map(), operations: 0, authorized: 0, pending: 0, sessions: 0 };
      const deadline = Date.now() + SECONDS * 1000;
      await Promise.all([
        worker(tally, deadline, mintDirect),
        worker(tally, deadline, mintDirect),
        worker(tally, deadline, mintDirect),
        worker(tally, deadline, connectThroughRelay),
        worker(tally, deadline, decide),
        worker(tally, deadline, decide),
      ]);

      const failures = [...tally.statuses].filter(([key]) => Number(key.split(' ').at(-1)) >= 500);
      expect(failures).toEqual([]);
      // The race was real: both answers happened, and credentials were redeemed.
      expect(tally.authorized).toBeGreaterThan(0);
      expect(tally.pending).toBeGreaterThan(0);
      expect(tally.sessions).toBeGreaterThan(0);

      const sqlite = stack.env.deps.db.$client;
      const issued = sqlite.prepare('SELECT * FROM temp.issue_log ORDER BY seq').all() as IssueLog[];
      const audit = sqlite.prepare('SELECT id, action, client_proof_key_thumbprint, detail FROM audit_log ORDER BY id').all() as Parameters<typeof auditStateAt>[0];
      expect(issued.length).toBeGreaterThanOrEqual(tally.authorized);
      const violations: string[] = [];
      for (const entry of issued) {
        const replayed = auditStateAt(audit, entry.audit_id ?? 0);
        // The mode recorded in the table, in the audit log, and on the credential agree.
        if (replayed.mode !== (entry.mode ?? 'account')) violations.push(`mode mismatch ${JSON.stringify(entry)} vs audit ${replayed.mode}`);
        if (entry.kind === 'credential' && entry.credential_mode !== replayed.mode) violations.push(`credential mode ${JSON.stringify(entry)}`);
        if (replayed.mode !== 'client-approval') continue;
        if (entry.status !== 'approved' || entry.revoked !== 0 || entry.account !== 'owner') violations.push(`row not approved: ${JSON.stringify(entry)}`);
        // S40: the credential carries the version of the approval it was minted under.
        if (entry.kind === 'credential' && entry.credential_version !== entry.row_version) violations.push(`credential version ${JSON.stringify(entry)}`);
        if (replayed.status.get(entry.thumbprint) !== 'approved') violations.push(`audit says ${replayed.status.get(entry.thumbprint) ?? 'absent'}: ${JSON.stringify(entry)}`);
      }
      expect(violations).toEqual([]);
      // Nothing unredeemed survives for a client that is not approved now (revocation is real).
      const leftovers = sqlite
        .prepare(`SELECT c.client_proof_key_thumbprint FROM connect_credentials c LEFT JOIN connect_clients k ON k.client_proof_key_thumbprint = c.client_proof_key_thumbprint
          WHERE c.redeemed_at IS NULL AND c.security_mode = 'client-approval' AND (k.status IS NOT 'approved' OR k.revoked_at IS NOT NULL)`)
        .all();
      expect(leftovers).toEqual([]);
      console.info(`[soak ${SECONDS}s] ${tally.operations} operations, ${tally.authorized} authorized, ${tally.pending} pending, ${tally.sessions} sessions`, Object.fromEntries(tally.statuses));
    },
    SECONDS * 1000 + 60_000,
  );
});

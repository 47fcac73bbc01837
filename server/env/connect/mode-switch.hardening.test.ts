// S57: switching account → client-approval ends, at once, every session and `client.session` stream
// of a client that is not approved, says how many, and switching back revives none of them.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../../shared/dpop';
import { listAudit } from '../audit/audit.service';
import { clientSessions, connectClients } from '../db/schema';
import { clientSessionToken, openSessionStream, ownerCall, postMint, probe, redeem, signedMintRequest } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';
import { runCli } from '../../cli/commands/cli-testing';
import { writeRuntimeInfo } from '../../cli/runtime-file';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const setMode = async (mode: 'account' | 'client-approval') => (await ownerCall(stack, 'connect.securityMode.set', { mode })).body as { result: { data: { mode: string; endedSessions: number } } };

async function whoami(signer: DpopSigner, token: string): Promise<number> {
  const url = `${stack.env.publicUrl}/trpc/client.whoami`;
  const dpop = await createDpopProof(signer, { htm: 'GET', htu: url, accessToken: token });
  return (await probe(url, { headers: { authorization: `DPoP ${token}`, DPoP: dpop } })).status;
}

/** Live sessions of clients that are not approved right now. */
function liveUnapprovedSessions(): number {
  const now = Date.now();
  return stack.env.deps.db
    .select({ thumbprint: clientSessions.clientProofKeyThumbprint, endedAt: clientSessions.endedAt, expiresAt: clientSessions.expiresAt, status: connectClients.status })
    .from(clientSessions)
    .leftJoin(connectClients, eq(connectClients.clientProofKeyThumbprint, clientSessions.clientProofKeyThumbprint))
    .all()
    .filter((r) => r.endedAt === null && r.expiresAt > now && r.status !== 'approved').length;
}

describe('S57 switching to client approval', () => {
  it('S57 ends the sessions and streams of account-mode, pending and rejected clients at once, counts them, keeps the approved; switching back revives none', async () => {
    // An approved client, and a pending and a rejected one (their rows exist from an earlier approval period).
    await setMode('client-approval');
    const approved = await stack.newSigner();
    const pending = await stack.newSigner();
    const rejected = await stack.newSigner();
    for (const s of [approved, pending, rejected]) await postMint(stack, await signedMintRequest(stack, s.thumbprint));
    await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: approved.thumbprint });
    await ownerCall(stack, 'connect.clients.reject', { clientProofKeyThumbprint: rejected.thumbprint });
    expect(await setMode('account')).toMatchObject({ result: { data: { mode: 'account', endedSessions: 0 } } });

    // In account mode all of them connect, one account-only client twice, plus an unredeemed credential.
    const accountOnly = await stack.newSigner();
    const sessions = new Map<DpopSigner, string[]>();
    for (const s of [approved, pending, rejected, accountOnly, accountOnly]) sessions.set(s, [...(sessions.get(s) ?? []), await clientSessionToken(stack, s)]);
    const leftover = await postMint(stack, await signedMintRequest(stack, accountOnly.thumbprint));
    expect(leftover.body?.status).toBe('authorized');
    const streams = new Map([...sessions].map(([s, tokens]) => [s, tokens[0]!]));
    const open = new Map<DpopSigner, Awaited<ReturnType<typeof openSessionStream>>>();
    for (const [s, token] of streams) open.set(s, await openSessionStream(stack, s, token));
    for (const stream of open.values()) expect(stream.first).toMatch(/"status":"active"/);

    const switched = await setMode('client-approval');
    expect(switched.result.data).toEqual({ mode: 'client-approval', endedSessions: 4 });
    expect(listAudit(stack.env.deps)[0]).toMatchObject({ action: 'security_mode_set', detail: { from: 'account', to: 'client-approval', endedSessions: 4 } });
    for (const s of [pending, rejected, accountOnly]) {
      await expect(open.get(s)!.until('"status":"ended"')).resolves.toMatch(/"reason":"revoked"/);
      for (const token of sessions.get(s)!) expect(await whoami(s, token)).toBe(401);
    }
    expect(await whoami(approved, sessions.get(approved)![0]!)).toBe(200);
    expect(liveUnapprovedSessions()).toBe(0);

    // Back to account mode: the ended sessions stay ended, the old credential is gone.
    expect((await setMode('account')).result.data).toEqual({ mode: 'account', endedSessions: 0 });
    for (const s of [pending, rejected, accountOnly]) for (const token of sessions.get(s)!) expect(await whoami(s, token)).toBe(401);
    expect((await redeem(stack, accountOnly, String(leftover.body?.credential))).status).toBe(400);
    expect(await whoami(approved, sessions.get(approved)![0]!)).toBe(200);
    await Promise.all([...open.values()].map((s) => s.close()));
    // And a fresh account-mode connect works as before.
    const fresh = await stack.newSigner();
    expect(await whoami(fresh, await clientSessionToken(stack, fresh))).toBe(200);
  });

  it('S57 connects racing the switch: once it has committed, no client that is not approved holds a live session', async () => {
    await setMode('account');
    const signers = await Promise.all(Array.from({ length: 16 }, () => stack.newSigner()));
    const connects = signers.map(async (s) => {
      const minted = await postMint(stack, await signedMintRequest(stack, s.thumbprint));
      if (minted.body?.status !== 'authorized') return;
      await redeem(stack, s, String(minted.body?.credential));
    });
    const switched = setMode('client-approval');
    await Promise.all(connects);
    await switched;
    expect(liveUnapprovedSessions()).toBe(0);
  });

  it('S57 the CLI says how many sessions the switch ended, in words and in --json', { timeout: 60_000 }, async () => {
    writeRuntimeInfo(stack.env.dataDir, { pid: process.pid, url: stack.env.publicUrl, environmentId: stack.env.environmentId });
    const cli = (...args: string[]) => runCli([...args, '--data-dir', stack.env.dataDir]);
    await setMode('account');
    await clientSessionToken(stack, await stack.newSigner());
    expect(await cli('connect', 'security', '--mode', 'client-approval')).toEqual({ code: 0, stdout: 'Connect client approval is required. Ended 1 client session.\n', stderr: '' });
    await setMode('account');
    for (let i = 0; i < 2; i++) await clientSessionToken(stack, await stack.newSigner());
    expect(await cli('connect', 'security', '--mode', 'client-approval', '--json')).toEqual({ code: 0, stdout: '{"mode":"client-approval","endedSessions":2}\n', stderr: '' });
  });
});

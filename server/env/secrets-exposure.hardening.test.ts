// S31, S45, S46: a whole connect flow with approvals, refusals, replays and an internal error, while
// every log line, every SSE event and every owner/public API answer is recorded. None of them may
// carry a proof, a credential, a session or relay token, an ID token or a private signing key;
// decisions are in the audit log with their thumbprint.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDpopProof } from '../../shared/dpop';
import { ConnectionBlockedError } from '../../shared/client/errors';
import { envKeyFile } from './env-app';
import { ownerCall, postMint, probe, redeem, signedMintRequest } from '../testing/http-probe';
import { startStack, type Stack } from '../testing/stack';

let stack: Stack;
const logged: string[] = [];
const restores: Array<() => void> = [];

beforeAll(async () => {
  stack = await startStack();
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const spy = vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    restores.push(() => spy.mockRestore());
  }
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      logged.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restores.push(() => void (stream.write = write));
  }
});
afterAll(async () => {
  for (const restore of restores) restore();
  await stack.close();
});

describe('no secret leaves through logs, events or APIs', () => {
  it('S31 S45 S46 a full flow with refusals and an internal error: logs, SSE events and API answers carry no secret', async () => {
    const secrets = new Map<string, string>();
    const keep = (what: string, value: unknown) => {
      if (typeof value === 'string' && value.length >= 12) secrets.set(value, what);
    };
    const envKey = JSON.parse(readFileSync(envKeyFile(stack.env.dataDir), 'utf8')) as { d: string };
    const relayKey = JSON.parse(readFileSync(join(dirname(stack.env.dataDir), 'relay', 'relay-key.json'), 'utf8')) as { d: string };
    keep('env private key', envKey.d);
    keep('relay private key', relayKey.d);
    keep('admin token', stack.env.adminToken);

    // Everything the client runtime sends and receives.
    const recording: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      keep('authorization', headers.get('authorization')?.replace(/^(DPoP|Bearer) /, ''));
      keep('dpop proof', headers.get('dpop'));
      if (typeof init?.body === 'string') for (const value of new URLSearchParams(init.body).values()) keep('form value', value);
      const res = await fetch(input, init);
      for (const match of (await res.clone().text()).matchAll(/"(access_token|credential|proof)":"([^"]+)"/g)) keep(match[1]!, match[2]);
      return res;
    };

    // An open settings page.
    const abort = new AbortController();
    const sse = await fetch(`${stack.env.publicUrl}/trpc/access.events?input=${encodeURIComponent('{}')}`, { headers: { authorization: `Bearer ${stack.env.adminToken}`, accept: 'text/event-stream' }, signal: abort.signal });
    let events = '';
    const pump = (async () => {
      const reader = sse.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) break;
        events += new TextDecoder().decode(value);
      }
    })();

    await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
    const signer = await stack.newSigner();
    await expect(stack.connect(signer, { wait: false, fetch: recording })).rejects.toBeInstanceOf(ConnectionBlockedError);
    await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: signer.thumbprint });
    const session = await stack.connect(signer, { wait: false, fetch: recording });
    keep('session token', session.accessToken);

    // Refusals: a replayed proof, a bad proof, a bad mint token, a wrong credential.
    const tokenUrl = `${stack.env.publicUrl}/oauth/token`;
    const proof = await createDpopProof(signer, { htm: 'POST', htu: tokenUrl });
    keep('dpop proof', proof);
    const minted = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
    keep('credential', minted.body?.credential);
    keep('mint answer', minted.body?.proof);
    for (let i = 0; i < 2; i++) {
      await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: proof },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: String(minted.body?.credential), subject_token_type: 'urn:gatehouse:token-type:connect-credential' }),
      });
    }
    const badMint = await signedMintRequest(stack, signer.thumbprint);
    keep('mint request', badMint);
    await postMint(stack, `${badMint.slice(0, -2)}AA`);
    // An internal error on the way (the replay store failing) is logged without the request's secrets.
    stack.env.deps.db.$client.exec("CREATE TEMP TRIGGER leak_probe BEFORE INSERT ON main.replay_markers BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END;");
    const failing = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
    stack.env.deps.db.$client.exec('DROP TRIGGER temp.leak_probe');
    expect(failing.status).toBe(500);
    const second = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
    keep('credential', second.body?.credential);
    expect((await redeem(stack, signer, String(second.body?.credential))).status).toBe(200);
    await ownerCall(stack, 'connect.clients.revoke', { clientProofKeyThumbprint: signer.thumbprint });

    await vi.waitFor(() => expect(events).toContain('connectClientRemoved'));
    abort.abort();
    await pump;

    // What owners and the public can read.
    const answers = [
      events,
      (await probe(`${stack.env.publicUrl}/trpc/connect.clients.list`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } })).text,
      (await probe(`${stack.env.publicUrl}/trpc/connect.audit.list?input=${encodeURIComponent('{"limit":500}')}`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } })).text,
      (await probe(`${stack.env.publicUrl}/healthz`)).text,
      (await probe(`${stack.env.publicUrl}/api/connect/config`)).text,
      (await probe(`${stack.relay.publicUrl}/.well-known/gatehouse-relay`)).text,
      JSON.stringify(await stack.relay.deps.store.getLink(stack.env.environmentId)),
    ];
    expect(secrets.size).toBeGreaterThanOrEqual(10);
    expect(logged.join('\n')).toMatch(/unexpected error/); // the internal error was logged …
    const leaks: string[] = [];
    for (const [secret, what] of secrets) {
      if (logged.some((line) => line.includes(secret))) leaks.push(`${what} in a log line`);
      if (answers.some((text) => text.includes(secret))) leaks.push(`${what} in an API answer or event`);
    }
    expect(leaks).toEqual([]);
    // The relay holds only the environment's public key.
    const link = await stack.relay.deps.store.getLink(stack.env.environmentId);
    expect(link?.environmentPublicKey).not.toHaveProperty('d');

    // S46: decisions are audited with the thumbprint and the actor.
    const audit = stack.env.deps.db.$client.prepare('SELECT actor, action, client_proof_key_thumbprint AS t FROM audit_log WHERE client_proof_key_thumbprint = ? ORDER BY id').all(signer.thumbprint);
    expect(audit).toEqual([
      { actor: 'system', action: 'client_requested', t: signer.thumbprint },
      { actor: 'api', action: 'client_approved', t: signer.thumbprint },
      { actor: 'api', action: 'client_revoked', t: signer.thumbprint },
    ]);
  });
});

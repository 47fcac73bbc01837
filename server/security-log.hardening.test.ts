// S46 at the env and the relay over HTTP: a replayed DPoP proof or mint request writes one
// security log line with the thumbprint and a jti hash, never the proof, token or credential; a
// flood of invalid proofs writes at most the cap. S44: the env's new-client rate limit reaches the
// client through the relay as TOO_MANY_REQUESTS / rate_limited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectFailedError, ConnectionBlockedError } from '../shared/client/errors';
import { createDpopProof } from '../shared/dpop';
import { manualClock } from './common/clock';
import { createSecurityLog, jtiHash, SECURITY_LOG_MAX_PER_WINDOW, SECURITY_LOG_WINDOW_MS } from './common/security-log';
import { setSecurityMode } from './env/connect/security-mode.service';
import { ID_TOKEN, postMint, probe, signedMintRequest, TOKEN_EXCHANGE } from './testing/http-probe';
import { startStack, type Stack } from './testing/stack';

let stack: Stack;
const lines: string[] = [];
const clock = manualClock();
beforeAll(async () => {
  stack = await startStack();
  const log = createSecurityLog({ sink: (line) => lines.push(line), clock });
  stack.env.deps.securityLog = log;
  stack.relay.deps.securityLog = log;
});
afterAll(async () => stack.close());

/** A fresh window for each test, so the caps of one do not hide the lines of another. */
const newWindow = () => {
  clock.advance(SECURITY_LOG_WINDOW_MS);
  lines.length = 0;
};
const jtiOf = (jwt: string) => String((JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { jti: unknown }).jti);

const relayExchange = async (dpop: string, idToken: string) =>
  probe(`${stack.relay.publicUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: dpop },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: idToken, subject_token_type: ID_TOKEN }).toString(),
  });

describe('security log over HTTP', () => {
  it('S46 env: a replayed DPoP proof at /oauth/token logs the thumbprint and a jti hash, not the proof or the credentials', async () => {
    newWindow();
    const signer = await stack.newSigner();
    const url = `${stack.env.publicUrl}/oauth/token`;
    const proof = await createDpopProof(signer, { htm: 'POST', htu: url });
    const credentials: string[] = [];
    for (let i = 0; i < 2; i++) {
      const answer = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
      credentials.push(String(answer.body?.credential));
    }
    const send = (credential: string) =>
      probe(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: proof },
        body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: credential, subject_token_type: 'urn:gatehouse:token-type:connect-credential' }).toString(),
      });
    expect((await send(credentials[0]!)).status).toBe(200);
    expect(await send(credentials[1]!)).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    const jti = jtiOf(proof);
    expect(lines).toEqual([`[gatehouse security] dpop_replayed at=env POST /oauth/token thumbprint=${signer.thumbprint} jti_sha256=${jtiHash(jti)}`]);
    const text = lines.join('\n');
    for (const secret of [proof, proof.split('.')[2]!, jti, ...credentials]) expect(text).not.toContain(secret);
  });

  it('S46 env: a replayed mint request logs mint_replayed with the jti hash, not the request', async () => {
    newWindow();
    const thumbprint = (await stack.newSigner()).thumbprint;
    const token = await signedMintRequest(stack, thumbprint);
    expect((await postMint(stack, token)).status).toBe(200);
    expect(await postMint(stack, token)).toMatchObject({ status: 409, body: { reason: 'request_replayed' } });
    expect(lines).toEqual([`[gatehouse security] mint_replayed at=env POST /api/connect/mint-credential thumbprint=${thumbprint} jti_sha256=${jtiHash(jtiOf(token))}`]);
    expect(lines.join('\n')).not.toContain(token.split('.')[2]!);
  });

  it('S46 relay: a replayed proof at /oauth/token logs a line; the proof and the ID token are not in it', async () => {
    newWindow();
    const signer = await stack.newSigner();
    const proof = await createDpopProof(signer, { htm: 'POST', htu: `${stack.relay.publicUrl}/oauth/token` });
    const idToken = await stack.idToken();
    expect((await relayExchange(proof, idToken)).status).toBe(200);
    expect((await relayExchange(proof, idToken)).status).toBe(400);
    expect(lines).toEqual([`[gatehouse security] dpop_replayed at=relay POST /oauth/token thumbprint=${signer.thumbprint} jti_sha256=${jtiHash(jtiOf(proof))}`]);
    for (const secret of [proof, idToken, idToken.split('.')[2]!]) expect(lines.join('\n')).not.toContain(secret);
  });

  it(`S46 a flood of 250 invalid proofs at the relay and the env writes at most ${SECURITY_LOG_MAX_PER_WINDOW} lines, then one "suppressed" line`, async () => {
    newWindow();
    const signer = await stack.newSigner();
    const idToken = await stack.idToken();
    const wrongUrl = await createDpopProof(signer, { htm: 'POST', htu: `${stack.relay.publicUrl}/elsewhere` });
    const sent: string[] = [wrongUrl];
    for (let i = 0; i < 200; i++) {
      const garbage = i % 2 === 0 ? `not-a-proof-${i}-${'x'.repeat(30)}` : wrongUrl;
      sent.push(garbage);
      expect((await relayExchange(garbage, idToken)).status).toBe(400);
    }
    const envUrl = `${stack.env.publicUrl}/oauth/token`;
    for (let i = 0; i < 50; i++) {
      const res = await probe(envUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: wrongUrl }, body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: 'ABCDEFGHJKLM', subject_token_type: 'urn:gatehouse:token-type:connect-credential' }).toString() });
      expect(res.status).toBe(400);
    }
    // One kind, one window: env and relay share this test's log, so 250 refusals make 20 lines.
    expect(lines).toHaveLength(SECURITY_LOG_MAX_PER_WINDOW);
    expect(lines.every((l) => l.startsWith('[gatehouse security] dpop_invalid at='))).toBe(true);
    expect(lines).toContain('[gatehouse security] dpop_invalid at=relay POST /oauth/token reason="DPoP proof htu does not match this endpoint"');
    for (const proof of sent) expect(lines.join('\n')).not.toContain(proof);
    clock.advance(SECURITY_LOG_WINDOW_MS);
    expect((await relayExchange(wrongUrl, idToken)).status).toBe(400);
    expect(lines.slice(SECURITY_LOG_MAX_PER_WINDOW)).toEqual([
      `[gatehouse security] dpop_invalid suppressed ${250 - SECURITY_LOG_MAX_PER_WINDOW} more line(s) in 10 s`,
      '[gatehouse security] dpop_invalid at=relay POST /oauth/token reason="DPoP proof htu does not match this endpoint"',
    ]);
  });
});

describe('the new-client rate limit through the relay (S44)', () => {
  let limited: Stack;
  beforeAll(async () => {
    // One new registration, then none: the second new key is refused.
    limited = await startStack({ env: { newClientRateLimit: { perSecond: 0, burst: 1 } } });
    setSecurityMode(limited.env.deps, 'client-approval', 'api');
  });
  afterAll(async () => limited.close());

  it('S44 the env answers 429 rate_limited; the relay passes it on as TOO_MANY_REQUESTS; approved clients are never limited', async () => {
    const [first, second] = [await limited.newSigner(), await limited.newSigner()];
    await expect(limited.connect(first, { wait: false })).rejects.toBeInstanceOf(ConnectionBlockedError);
    const refused = await limited.connect(second, { wait: false }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConnectFailedError);
    expect(refused).toMatchObject({ reason: 'rate_limited', status: 429, message: expect.stringMatching(/too many new connection requests/) });
    // Straight at the env: a clean 429 with Retry-After, and nothing recorded for the key.
    const direct = await postMint(limited, await signedMintRequest(limited, second.thumbprint));
    expect(direct).toMatchObject({ status: 429, body: { error: 'too_many_requests', reason: 'rate_limited' } });
    expect(direct.headers.get('retry-after')).toBe('1');
    expect((await limited.owner.connect.clients.list.query()).items).toEqual([expect.objectContaining({ clientProofKeyThumbprint: first.thumbprint })]);
    // The known client is not new: once approved it connects, again and again.
    await limited.owner.connect.clients.approve.mutate({ clientProofKeyThumbprint: first.thumbprint });
    for (let i = 0; i < 3; i++) expect((await limited.connect(first, { wait: false })).accessToken).toEqual(expect.any(String));
  });
});

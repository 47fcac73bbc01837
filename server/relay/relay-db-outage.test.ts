// A relay on PostgreSQL whose database goes down: clients get a clean 503-class answer that says so
// (never a 500 or a stack), and the relay serves again when the database is back, without restart.
import { createTRPCUntypedClient, httpLink, TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fetchWhoAmI, getRelayAccessToken } from '../../shared/client/connect';
import { dpopFetch } from '../../shared/client/dpop-fetch';
import { createDpopProof } from '../../shared/dpop';
import { createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from '../testing/postgres';
import { startStack, type Stack } from '../testing/stack';
import { UNAVAILABLE_MESSAGE } from './pg-store';

let database: TestDatabase;
let proxy: TcpProxy;
let stack: Stack;

beforeAll(async () => {
  database = await createTestDatabase('relay_outage');
  proxy = await startTcpProxy(database.url);
  stack = await startStack({ relay: { databaseUrl: proxy.via(database.url) } });
  await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
});
afterAll(async () => {
  await stack?.close();
  await proxy?.close();
  await database?.drop();
});

const tokenRequest = async (signer: Awaited<ReturnType<Stack['newSigner']>>) =>
  fetch(`${stack.relay.publicUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: `${stack.relay.publicUrl}/oauth/token` }) },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: await stack.idToken(),
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    }).toString(),
  });

describe('the relay’s database goes down and comes back', () => {
  it('while it is down: 503 with a message that names the database, on every relay surface', async () => {
    const signer = await stack.newSigner();
    const { token } = await getRelayAccessToken({ relayUrl: stack.relay.publicUrl, signer, getIdToken: () => stack.idToken() });
    await proxy.cut();
    try {
      // Token exchange (records the DPoP proof).
      const res = await tokenRequest(signer);
      expect(res.status).toBe(503);
      const body = await res.text();
      // RFC 6749 §5.2 at the token endpoint: temporarily_unavailable, and when to come back.
      expect(JSON.parse(body)).toEqual({ error: 'temporarily_unavailable', error_description: UNAVAILABLE_MESSAGE, reason: 'internal', message: UNAVAILABLE_MESSAGE });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(body).not.toMatch(/\bat .*\.ts|ECONNREFUSED|postgres/);

      // tRPC environments.connect with a valid relay access token.
      const relay = createTRPCUntypedClient({ links: [httpLink({ url: `${stack.relay.publicUrl}/trpc`, fetch: dpopFetch(signer, () => token) })] });
      const error = await relay.mutation('environments.connect', { environmentId: stack.env.environmentId, clientProofKeyThumbprint: signer.thumbprint }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TRPCClientError);
      expect((error as TRPCClientError<never>).message).toBe(UNAVAILABLE_MESSAGE);
      expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'SERVICE_UNAVAILABLE', httpStatus: 503 });

      // Linking (the environment reports what the relay said).
      await expect(stack.env.link(stack.relay.publicUrl, await stack.idToken())).rejects.toThrow(UNAVAILABLE_MESSAGE);

      // The relay itself is alive, but not ready: a balancer sends its traffic elsewhere.
      expect((await fetch(`${stack.relay.publicUrl}/healthz`)).status).toBe(200);
      const ready = await fetch(`${stack.relay.publicUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false, database: false, acceptingTunnels: true });
    } finally {
      await proxy.restore();
    }
  });

  it('when it is back: the same relay serves again without a restart', async () => {
    await vi.waitFor(async () => expect((await fetch(`${stack.relay.publicUrl}/readyz`)).status).toBe(200), { timeout: 10_000, interval: 50 });
    const signer = await stack.newSigner();
    expect((await tokenRequest(signer)).status).toBe(200);
    const session = await stack.connect(signer);
    expect((await fetchWhoAmI(session, signer)).clientProofKeyThumbprint).toBe(signer.thumbprint);
  });
});

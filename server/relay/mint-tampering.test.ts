// A man in the middle between relay and environment cannot forge or alter a pending answer or a
// credential: the relay refuses with endpoint_response_invalid and the client never sees it.
import { SignJWT } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectFailedError } from '../../shared/client/errors';
import { startMitmProxy } from '../testing/mitm-proxy';
import { startStack, type Stack } from '../testing/stack';

let stack: Stack;
let proxy: Awaited<ReturnType<typeof startMitmProxy>>;

beforeAll(async () => {
  proxy = await startMitmProxy();
  stack = await startStack({ direct: true, env: { publicUrl: proxy.url }, relay: { endpointTimeoutMs: 1500 } });
  proxy.setTarget(`http://127.0.0.1:${(stack.env.server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await stack.close();
  await proxy.close();
});
beforeEach(() => proxy.setTamper(null));

async function reasonOf(mode: 'account' | 'client-approval'): Promise<string> {
  await stack.owner.connect.securityMode.set.mutate({ mode });
  const signer = await stack.newSigner();
  const error = await stack.connect(signer, { wait: false }).then(
    () => 'authorized',
    (e) => (e instanceof ConnectFailedError ? e.reason : `${e.name}:${e.reason ?? e.message}`),
  );
  return error;
}

const otherKey = generateKeyPairSync('ed25519').privateKey;

describe('tampered mint answers are refused', () => {
  it('passes an untouched answer through (the proxy itself is transparent)', async () => {
    expect(await reasonOf('account')).toBe('authorized');
  });

  it.each([
    ['requestedAt', (b: Record<string, unknown>) => ({ ...b, requestedAt: '2020-01-01T00:00:00.000Z' })],
    ['approvalStatus', (b: Record<string, unknown>) => ({ ...b, approvalStatus: 'rejected' })],
    ['status (pending → authorized with a made-up credential)', (b: Record<string, unknown>) => ({ status: 'authorized', credential: 'ABCDEFGHJKLM', expiresAt: Date.now() + 60_000, proof: b.proof })],
  ])('pending answer with %s changed in the body', async (_field, change) => {
    proxy.setTamper((b) => change(b));
    expect(await reasonOf('client-approval')).toBe('endpoint_response_invalid');
  });

  it.each([
    ['credential', (b: Record<string, unknown>) => ({ ...b, credential: 'ABCDEFGHJKLM' })],
    ['expiresAt', (b: Record<string, unknown>) => ({ ...b, expiresAt: (b.expiresAt as number) + 3_600_000 })],
    ['status (authorized → pending)', (b: Record<string, unknown>) => ({ status: 'pending_approval', approvalStatus: 'pending', requestedAt: new Date().toISOString(), retryAfterSeconds: 5, proof: b.proof })],
  ])('authorized answer with %s changed in the body', async (_field, change) => {
    proxy.setTamper((b) => change(b));
    expect(await reasonOf('account')).toBe('endpoint_response_invalid');
  });

  it('an earlier genuine answer replayed for a new request (requestNonce, thumbprint differ)', async () => {
    await reasonOf('client-approval');
    proxy.setTamper((_b, history) => history.at(-1)!);
    expect(await reasonOf('client-approval')).toBe('endpoint_response_invalid');
  });

  it.each(['client-approval', 'account'] as const)('a %s answer re-signed by another key with every field right', async (mode) => {
    proxy.setTamper(async (b) => {
      const claims = JSON.parse(Buffer.from(String(b.proof).split('.')[1]!, 'base64url').toString());
      return { ...b, proof: await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'gatehouse-mint-response+jwt' }).sign(otherKey) };
    });
    expect(await reasonOf(mode)).toBe('endpoint_response_invalid');
  });

  it('an answer whose proof has alg none', async () => {
    proxy.setTamper((b) => {
      const [, payload] = String(b.proof).split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'gatehouse-mint-response+jwt' })).toString('base64url');
      return { ...b, proof: `${header}.${payload}.` };
    });
    expect(await reasonOf('account')).toBe('endpoint_response_invalid');
  });

  it('a body of the wrong shape', async () => {
    proxy.setTamper(() => ({ hello: 'world' }));
    expect(await reasonOf('account')).toBe('endpoint_response_invalid');
  });

  it('a non-2xx answer → endpoint_request_failed', async () => {
    proxy.setTamper(() => ({ status: 500 }));
    expect(await reasonOf('account')).toBe('endpoint_request_failed');
  });

  it('an environment that never answers → endpoint_timed_out', async () => {
    proxy.setTamper(() => 'stall');
    expect(await reasonOf('account')).toBe('endpoint_timed_out');
  });
});

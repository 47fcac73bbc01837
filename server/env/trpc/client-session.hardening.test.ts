// `client.session` streams are capped per client session, as owner streams are (S45): one session
// asked for 40 and got 40. Over real SSE with real DPoP sessions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../../shared/dpop';
import { postMint, redeem, signedMintRequest } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';
import { MAX_SESSION_STREAMS_PER_CLIENT_SESSION } from '../events/subscription-slots';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

interface OpenStream {
  first: string;
  close(): Promise<void>;
}

async function clientSession(): Promise<{ signer: DpopSigner; token: string }> {
  const signer = await stack.newSigner();
  const minted = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
  const token = String((await redeem(stack, signer, String(minted.body?.credential))).body?.access_token);
  return { signer, token };
}

/** Opens client.session with a fresh proof and reads until its first data or error event. */
async function openSession({ signer, token }: { signer: DpopSigner; token: string }): Promise<OpenStream> {
  const path = `${stack.env.publicUrl}/trpc/client.session`;
  const dpop = await createDpopProof(signer, { htm: 'GET', htu: path, accessToken: token });
  const abort = new AbortController();
  const res = await fetch(`${path}?input=${encodeURIComponent('{}')}`, { headers: { accept: 'text/event-stream', authorization: `DPoP ${token}`, DPoP: dpop }, signal: abort.signal });
  const reader = res.body!.getReader();
  let first = '';
  const deadline = Date.now() + 5000;
  while (!/"status":"active"|event: serialized-error/.test(first) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    first += new TextDecoder().decode(value);
  }
  return {
    first: `${res.status}\n${first}`,
    async close() {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}

const accepted = (s: OpenStream) => /"status":"active"/.test(s.first);

describe('client.session streams', () => {
  it(`at most ${MAX_SESSION_STREAMS_PER_CLIENT_SESSION} open streams per client session, also when 40 ask at once; another session has its own; a closed stream frees its slot`, async () => {
    const one = await clientSession();
    const streams = await Promise.all(Array.from({ length: 40 }, () => openSession(one)));
    try {
      expect(streams.filter(accepted)).toHaveLength(MAX_SESSION_STREAMS_PER_CLIENT_SESSION);
      for (const refused of streams.filter((s) => !accepted(s))) expect(refused.first).toMatch(/TOO_MANY_REQUESTS/);
      const other = await openSession(await clientSession());
      expect(accepted(other)).toBe(true);
      streams.push(other);
      const open = streams.filter(accepted);
      await open[0]!.close();
      let again: OpenStream | null = null;
      for (let attempt = 0; attempt < 50 && !(again && accepted(again)); attempt++) {
        await again?.close();
        again = await openSession(one); // the server sees the close a moment after the client
      }
      expect(accepted(again!)).toBe(true);
      streams.push(again!);
    } finally {
      await Promise.all(streams.map((s) => s.close()));
    }
  });
});

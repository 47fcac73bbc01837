// `client.session` streams are capped per client session, as owner streams are (S45): one session
// asked for 40 and got 40. Over real SSE with real DPoP sessions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DpopSigner } from '../../../shared/dpop';
import { clientSessionToken, openSessionStream, type OpenSessionStream } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';
import { MAX_SESSION_STREAMS_PER_CLIENT_SESSION } from '../events/subscription-slots';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

type OpenStream = OpenSessionStream;

async function clientSession(): Promise<{ signer: DpopSigner; token: string }> {
  const signer = await stack.newSigner();
  return { signer, token: await clientSessionToken(stack, signer) };
}

const openSession = ({ signer, token }: { signer: DpopSigner; token: string }) => openSessionStream(stack, signer, token);

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

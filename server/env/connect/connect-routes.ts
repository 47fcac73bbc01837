// Plain HTTP endpoints of the connect flow on the environment (SPEC §4).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { DomainError } from '../../common/errors';
import { MINT_MAX_TOKEN_LENGTH } from '../../mint/mint-protocol';
import { readObjectBody, sendError, sendJson } from '../../common/http';
import { authorizationServerMetadata } from '../../common/oauth-metadata';
import { checkTokenRequest, tokenChallengeOf, tokenMethodNotAllowed } from '../../common/token-request';
import { challengeOf } from '../../common/www-authenticate';
import { isTunnelRequest } from '../tunnel/tunnel-requests';
import type { EnvDeps } from '../deps';
import type { MintService } from './mint.service';
import { endpointUrls } from './client-auth';
import { redeemCredential } from './redeem.service';

// A body that cannot hold a mint request (MINT_MAX_TOKEN_LENGTH) is refused from its Content-Length,
// before it is read or parsed.
const MAX_MINT_BODY = MINT_MAX_TOKEN_LENGTH + 256;
const MintBody = z.object({ proof: z.string().min(1).max(MINT_MAX_TOKEN_LENGTH) });
const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };


/** Aborts when the relay goes away before the answer. */
function callerGone(res: ServerResponse): AbortSignal {
  const abort = new AbortController();
  // 'close' also follows every finished answer; only an unfinished one means the caller left. On a
  // tunnel stream (HTTP/2) a reset by the relay counts too: there writableFinished says little.
  if (res.destroyed) abort.abort();
  else res.once('close', () => (res.writableFinished && !resetByPeer(res)) || abort.abort());
  return abort.signal;
}

function resetByPeer(res: ServerResponse): boolean {
  const rstCode = (res as unknown as { stream?: { rstCode?: number } }).stream?.rstCode;
  return rstCode !== undefined && rstCode !== 0;
}

export function createConnectRoutes(opts: { deps: EnvDeps; mint: MintService; baseUrls: () => readonly string[]; environmentId?: string }) {
  return {
    '/api/connect/mint-credential': async (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'POST') return tokenMethodNotAllowed(res, noStore);
      try {
        const body = MintBody.safeParse(await readObjectBody(req, MAX_MINT_BODY));
        if (!body.success) throw new DomainError('bad_request', 'invalid_request', 'The body must be {"proof": "<mint request JWT>"}.');
        const answer = await opts.mint.mint(body.data.proof, callerGone(res));
        sendJson(res, 200, answer, noStore);
      } catch (error) {
        const limited = error instanceof DomainError && error.kind === 'too_many_requests';
        sendError(res, error, limited ? { ...noStore, 'retry-after': '1' } : noStore);
      }
    },
    '/oauth/token': async (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'POST') return tokenMethodNotAllowed(res, noStore);
      try {
        const form = await readObjectBody(req, 16 * 1024);
        const baseUrls = opts.baseUrls();
        checkTokenRequest(req, form, [...baseUrls, ...(opts.environmentId ? [opts.environmentId] : [])]);
        const grant = await redeemCredential(opts.deps, req, form, endpointUrls(baseUrls, '/oauth/token'));
        sendJson(res, 200, grant, noStore);
      } catch (error) {
        // RFC 9449 §7.1: a bad proof gets a DPoP challenge, even on this 400.
        const dpop = error instanceof DomainError && error.reason === 'invalid_dpop_proof';
        sendError(res, error, dpop ? { ...noStore, 'www-authenticate': challengeOf('DPoP', 'invalid_dpop_proof', error.message) } : noStore, { oauth: true, challenge: tokenChallengeOf(error) });
      }
    },
    '/.well-known/oauth-authorization-server': async (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'GET') return sendError(res, new DomainError('not_found', 'not_found', 'GET the metadata.'));
      // Through the relay the environment answers as its routed endpoint there (SPEC §11).
      const [own, routed] = opts.baseUrls();
      const base = isTunnelRequest(req) && routed ? routed : own!;
      sendJson(res, 200, authorizationServerMetadata(base, base));
    },
  };
}

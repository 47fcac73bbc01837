// Sending one webhook delivery under the address rules of direct endpoints (S52, S61): the URL is
// checked when it is saved and the address actually dialled is checked again (DNS cannot swap it),
// no redirect is followed, and each attempt has a bounded time and answer size.
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { DomainError } from '../../common/errors';
import { checkingLookup, isPrivateAddress } from '../../relay/direct-endpoint';

export const WEBHOOK_URL_MAX = 2000;
const ATTEMPT_TIMEOUT_MS = 10_000;
const ANSWER_MAX_BYTES = 16 * 1024;

const refused = (why: string) => new DomainError('bad_request', 'endpoint_not_allowed', `This webhook URL is not allowed: ${why}.`);

/** The normalised URL, or a clean refusal: http(s), no userinfo or fragment, no private literal address unless allowed. */
export function checkWebhookUrl(input: string, allowPrivate: boolean): string {
  if (input.length > WEBHOOK_URL_MAX) throw refused(`longer than ${WEBHOOK_URL_MAX} characters`);
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw refused('not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused('only http and https URLs');
  if (url.username || url.password) throw refused('no user or password in the URL');
  if (url.hash || input.includes('#')) throw refused('no fragment');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw refused('no host');
  // Names are checked again where it counts, on the address each connection actually dials.
  if (!allowPrivate && (isIP(host) ? isPrivateAddress(host) : /(^|\.)localhost\.?$/i.test(host))) {
    throw refused('private, loopback and link-local addresses are refused (start the environment with --allow-private-webhooks to allow them)');
  }
  return url.toString();
}

export interface AttemptResult {
  /** The HTTP status, or null when no answer came. */
  statusCode: number | null;
  /** Why the attempt failed, in a short line; null on a 2xx. */
  error: string | null;
}

/** POSTs `body` once; never throws, never follows a redirect. */
export function sendWebhook(url: string, body: string, headers: Record<string, string>, opts: { allowPrivate: boolean; timeoutMs?: number }): Promise<AttemptResult> {
  let target: URL;
  try {
    target = new URL(checkWebhookUrl(url, opts.allowPrivate));
  } catch (error) {
    return Promise.resolve({ statusCode: null, error: error instanceof Error ? error.message : 'URL refused' });
  }
  const signal = AbortSignal.timeout(opts.timeoutMs ?? ATTEMPT_TIMEOUT_MS);
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: AttemptResult) => {
      if (!settled) (settled = true), resolve(result);
    };
    const req = (target.protocol === 'https:' ? https : http).request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Gatehouse-Webhooks', 'content-length': Buffer.byteLength(body), ...headers },
        lookup: checkingLookup({ allowPrivate: opts.allowPrivate, allowedOrigins: [] }, target.origin),
        signal,
      },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > ANSWER_MAX_BYTES) res.destroy();
        });
        const settle = () => done({ statusCode, error: statusCode >= 200 && statusCode < 300 ? null : statusCode >= 300 && statusCode < 400 ? `redirect ${statusCode} not followed` : `answered ${statusCode}` });
        res.on('end', settle);
        res.on('close', settle);
        res.on('error', settle);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'GATEHOUSE_ENDPOINT_NOT_ALLOWED') return done({ statusCode: null, error: 'address not allowed' });
      if (signal.aborted) return done({ statusCode: null, error: 'timed out' });
      done({ statusCode: null, error: `could not connect (${error.code ?? 'error'})` });
    });
    req.end(body);
  });
}

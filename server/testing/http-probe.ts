// Raw HTTP helpers for the hardening tests: every call returns its status instead of throwing, so a
// test can assert "never a 5xx" over thousands of requests, and table dumps show stored data unchanged.
import { expect } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../shared/dpop';
import type { EnvDb } from '../env/db/database';
import { signMintRequest } from '../mint/mint-protocol';
import type { Stack } from './stack';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const CONNECT_CREDENTIAL = 'urn:gatehouse:token-type:connect-credential';
export const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

export interface Probe {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | null;
  text: string;
}

/** fetch with a hard deadline: a hang is a failure, never a stuck suite. */
export async function probe(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Probe> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: Record<string, unknown> | null = null;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = null;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A mint request signed with the relay's real key, as the relay would send it. */
export async function signedMintRequest(stack: Stack, thumbprint: string, over: Partial<Parameters<typeof signMintRequest>[1]> = {}) {
  return (
    await signMintRequest(stack.relay.deps.signingKey.privateKey, {
      relayIssuer: stack.relay.publicUrl,
      environmentId: stack.env.environmentId,
      accountId: 'owner',
      clientProofKeyThumbprint: thumbprint,
      now: Date.now(),
      ...over,
    })
  ).token;
}

export const postMint = (stack: Stack, proof: unknown) =>
  probe(`${stack.env.publicUrl}/api/connect/mint-credential`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof }) }, 40_000);

export async function redeem(stack: Stack, signer: DpopSigner, credential: string): Promise<Probe> {
  const url = `${stack.env.publicUrl}/oauth/token`;
  return probe(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: url }) },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: credential, subject_token_type: CONNECT_CREDENTIAL }).toString(),
  });
}

/** An owner tRPC call over HTTP with the admin token (or any headers a test gives). */
export function ownerCall(stack: Stack, path: string, input: unknown, headers: Record<string, string> = { authorization: `Bearer ${stack.env.adminToken}` }): Promise<Probe> {
  return probe(`${stack.env.publicUrl}/trpc/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(input) });
}

export async function relayAccessToken(stack: Stack, signer: DpopSigner): Promise<Probe> {
  const url = `${stack.relay.publicUrl}/oauth/token`;
  return probe(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(signer, { htm: 'POST', htu: url }) },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: await stack.idToken(), subject_token_type: ID_TOKEN }).toString(),
  });
}

export async function relayConnect(stack: Stack, signer: DpopSigner, accessToken: string, input: Record<string, unknown> = {}): Promise<Probe> {
  const url = `${stack.relay.publicUrl}/trpc/environments.connect`;
  return probe(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `DPoP ${accessToken}`, DPoP: await createDpopProof(signer, { htm: 'POST', htu: url, accessToken }) },
    body: JSON.stringify({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: signer.thumbprint, ...input }),
  });
}

/** Every row of every table, in a stable order: equal dumps mean nothing was stored or changed. */
export function dumpTables(db: EnvDb | { prepare: EnvDb['$client']['prepare'] }): Record<string, unknown[]> {
  const sqlite = 'prepare' in db ? db : db.$client;
  const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>;
  return Object.fromEntries(tables.map(({ name }) => [name, sqlite.prepare(`SELECT * FROM "${name}" ORDER BY 1, 2`).all()]));
}

/** A 4xx with a clear message: `{error, reason, message}`, tRPC's `{error: {message}}`, or a batch of those; no stack, no SQL. */
export function expectClean4xx(res: Probe, what: string): void {
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    parsed = null;
  }
  for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
    const body = item as { message?: unknown; error?: { message?: unknown } } | null;
    const message = body?.message ?? body?.error?.message;
    expect(typeof message === 'string' && message.length > 0 && message.length < 600, `${what}: message in ${res.text.slice(0, 300)}`).toBe(true);
  }
  expect(res.text).not.toMatch(/\bat [\w.<>]+ \(|\.ts:\d+|SQLITE|sqlite_|node_modules/);
}

export interface OpenSessionStream {
  /** The status line and what arrived until the first data or error event. */
  first: string;
  /** Resolves with everything the stream sent after `first` once it contains `text`; rejects if it ends first. */
  until(text: string): Promise<string>;
  close(): Promise<void>;
}

/** A client session token for a fresh mint (account mode, or an approved client) and its redemption. */
export async function clientSessionToken(stack: Stack, signer: DpopSigner): Promise<string> {
  const minted = await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
  return String((await redeem(stack, signer, String(minted.body?.credential))).body?.access_token);
}

/** Opens `client.session` over SSE with a fresh proof and reads until its first data or error event. */
export async function openSessionStream(stack: Stack, signer: DpopSigner, token: string): Promise<OpenSessionStream> {
  const path = `${stack.env.publicUrl}/trpc/client.session`;
  const dpop = await createDpopProof(signer, { htm: 'GET', htu: path, accessToken: token });
  const abort = new AbortController();
  const res = await fetch(`${path}?input=${encodeURIComponent('{}')}`, { headers: { accept: 'text/event-stream', authorization: `DPoP ${token}`, DPoP: dpop }, signal: abort.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (seen: () => boolean, deadlineMs: number) => {
    const deadline = Date.now() + deadlineMs;
    while (!seen() && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  };
  await readUntil(() => /"status":"active"|event: serialized-error/.test(text), 5000);
  const first = `${res.status}\n${text}`;
  text = '';
  return {
    first,
    async until(wanted) {
      await readUntil(() => text.includes(wanted), 5000);
      if (!text.includes(wanted)) throw new Error(`the session stream never sent ${wanted}; it sent ${text.slice(0, 300)}`);
      return text;
    },
    async close() {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}

// Fuzzing every external input of the environment over real HTTP: the mint body and JWT, the
// /oauth/token form and DPoP header, owner and client tRPC inputs, /login, odd URLs. Malformed,
// oversized (≥ 1 MiB), wrong-type and unicode input always gets a 4xx with a clear message, never a
// 5xx, never a hang, and leaves every table exactly as it was.
import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../shared/dpop';
import { CONNECT_CREDENTIAL, dumpTables, expectClean4xx, ownerCall, postMint, probe, signedMintRequest, TOKEN_EXCHANGE, type Probe } from '../testing/http-probe';
import { startStack, type Stack } from '../testing/stack';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 1024 * 1024;
let stack: Stack;
let signer: DpopSigner;
let credential: string;
let validMint: string;

// A web app of its own, so the answers do not depend on whether `npm run build:web` ran before vitest.
const webRoot = mkdtempSync(join(tmpdir(), 'gatehouse-fuzz-web-'));
mkdirSync(join(webRoot, 'assets'));
writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>Gatehouse</title><script src="/assets/app.js"></script>');
writeFileSync(join(webRoot, 'assets', 'app.js'), '// app');

beforeAll(async () => {
  stack = await startStack({ env: { webRoot } });
  signer = await stack.newSigner();
  // State worth protecting: a pending client, an approved one, an unredeemed credential.
  await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
  const approved = await stack.newSigner();
  await postMint(stack, await signedMintRequest(stack, approved.thumbprint));
  await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: approved.thumbprint });
  await postMint(stack, await signedMintRequest(stack, signer.thumbprint));
  await ownerCall(stack, 'connect.clients.approve', { clientProofKeyThumbprint: signer.thumbprint });
  credential = String((await postMint(stack, await signedMintRequest(stack, signer.thumbprint))).body?.credential);
  await postMint(stack, await signedMintRequest(stack, (await stack.newSigner()).thumbprint));
  validMint = await signedMintRequest(stack, signer.thumbprint);
});
afterAll(async () => {
  await stack.close();
  rmSync(webRoot, { recursive: true, force: true });
});

const env = () => stack.env.publicUrl;

/** Runs a property and checks that no table changed. */
async function unchanged(run: () => Promise<void>) {
  const before = dumpTables(stack.env.deps.db);
  await run();
  expect(dumpTables(stack.env.deps.db)).toEqual(before);
}

const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 60 }));
const wrongType = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 3 }));
const anyJson = fc.jsonValue({ maxDepth: 3 });
const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8', 'multipart/form-data; boundary=x', undefined);

/** Flips, truncates, extends or unicode-poisons a valid compact JWS: never the token itself. */
const mutatedToken = (token: string) =>
  fc
    .oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(token.length - 1), bit: fc.nat(5) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(token.length - 1) }),
      fc.record({ kind: fc.constant('append' as const), extra: fc.constantFrom('.', '.AAAA', '=', '==', ' ', '\u00e9', '.a.b') }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(token.length - 1), extra: fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }) }),
    )
    .map((m) => {
      if (m.kind === 'flip') return token.slice(0, m.at) + String.fromCharCode(token.charCodeAt(m.at) ^ (1 << m.bit)) + token.slice(m.at + 1);
      if (m.kind === 'cut') return token.slice(0, m.at);
      if (m.kind === 'append') return token + m.extra;
      return token.slice(0, m.at) + m.extra + token.slice(m.at);
    })
    .filter((t) => t !== token);

/** A raw request over node:http, for what fetch will not send (non-ASCII header bytes, lying lengths). */
function rawRequest(path: string, init: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer | string } = {}): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${env()}${path}`, { method: init.method ?? 'POST', headers: init.headers ?? {}, timeout: 10_000, insecureHTTPParser: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> | null = null;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), body, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('hang: no answer in 10 s')));
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('fuzzing the environment’s HTTP inputs', () => {
  it('S47 mint endpoint: arbitrary bodies, wrong types and content types → clean 4xx, nothing stored', async () => {
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(text, anyJson.map((v) => JSON.stringify(v)), wrongType.map((v) => JSON.stringify({ proof: v })), text.map((p) => JSON.stringify({ proof: p }))),
          contentType,
          async (body, type) => {
            const res = await probe(`${env()}/api/connect/mint-credential`, { method: 'POST', headers: type ? { 'content-type': type } : {}, body: Buffer.from(body) });
            expectClean4xx(res, `mint ${JSON.stringify(body).slice(0, 80)}`);
            expect(res.headers.get('cache-control')).toBe('no-store');
          },
        ),
        { numRuns: 150 },
      ),
    );
  });

  it('S47 S26 S33 mint endpoint: mutations of a valid signed mint JWT → clean 4xx, nothing stored', async () => {
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(mutatedToken(validMint), async (token) => {
          expectClean4xx(await postMint(stack, token), `mint token ${token.slice(-20)}`);
        }),
        { numRuns: 150 },
      ),
    );
  });

  it('S47 S2 S50 /oauth/token: arbitrary forms and DPoP header values → clean 4xx, the credential stays unredeemed', async () => {
    const url = `${env()}/oauth/token`;
    const field = fc.constantFrom('grant_type', 'subject_token', 'subject_token_type', 'scope', 'dpop', '__proto__', 'constructor', '');
    const form = fc.array(fc.tuple(field, text), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString());
    const validForm = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: credential, subject_token_type: CONNECT_CREDENTIAL }).toString();
    const latin1 = fc.string({ maxLength: 300 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
    // Only what a header can carry; HTTP trims the surrounding whitespace, so that is no mutation.
    const visible = (s: string) => s.replace(/[^\x20-\x7e]/g, '');
    const goodProof = await createDpopProof(signer, { htm: 'POST', htu: url });
    const dpop = fc.oneof(latin1, mutatedToken(goodProof).map(visible).filter((p) => p.trim() !== goodProof), fc.constantFrom('', ' ', 'a.b.c', 'a.b.c.d.e', '..', 'x'.repeat(8193)));
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(form, fc.constant(validForm)), fc.option(dpop, { nil: undefined }), contentType, async (body, proof, type) => {
          const headers: Record<string, string> = {};
          if (type) headers['content-type'] = type;
          if (proof !== undefined) headers.DPoP = proof;
          const res = await probe(url, { method: 'POST', headers, body: Buffer.from(body) });
          expectClean4xx(res, `token form ${body.slice(0, 60)} dpop ${String(proof).slice(0, 40)}`);
          expect(res.headers.get('cache-control')).toBe('no-store');
        }),
        { numRuns: 150 },
      ),
    );
  });

  it('S1 S2 S47 the DPoP header with non-ASCII bytes, repeated, or split across lines → clean 4xx', async () => {
    const url = `${env()}/oauth/token`;
    const body = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: credential, subject_token_type: CONNECT_CREDENTIAL }).toString();
    const good = await createDpopProof(signer, { htm: 'POST', htu: url });
    await unchanged(async () => {
      for (const dpop of [Buffer.from('é.ü.ß', 'latin1').toString('latin1'), `${good}\u00ff`, [good, good], [good, 'x'], `${good}, ${good}`, good.replace(/\./g, ' . ')]) {
        const res = await rawRequest('/oauth/token', { headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length), DPoP: dpop }, body });
        expectClean4xx(res, `dpop ${String(dpop).slice(0, 40)}`);
      }
    });
  });

  it('S2 S47 oversized bodies (≥ 1 MiB, declared or streamed) → 4xx at every body-reading endpoint, never a hang', async () => {
    const huge = Buffer.alloc(MiB + 17, 'a');
    await unchanged(async () => {
      for (const path of ['/api/connect/mint-credential', '/oauth/token', '/login', '/trpc/connect.clients.approve', '/trpc/connect.securityMode.set']) {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${stack.env.adminToken}` };
        const declared = await rawRequest(path, { headers: { ...headers, 'content-length': String(huge.length) }, body: huge }).catch((e: Error) => e);
        // Refusing early may reset the upload; what matters is an answer in time, and no 5xx.
        if (!(declared instanceof Error)) expectClean4xx(declared, `${path} declared`);
        else expect(declared.message).not.toMatch(/hang/);
        const streamed = await probe(`${env()}${path}`, {
          method: 'POST',
          headers,
          body: new ReadableStream({
            start(controller) {
              for (let i = 0; i < 17; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(0x7b));
              controller.close();
            },
          }),
          duplex: 'half',
        } as RequestInit).catch((e: Error) => e);
        if (!(streamed instanceof Error)) expectClean4xx(streamed, `${path} streamed`);
        else expect(streamed.name).not.toBe('TimeoutError');
      }
      // A 1 MiB proof inside a small-looking JSON envelope, and a 1 MiB DPoP header.
      expectClean4xx(await probe(`${env()}/api/connect/mint-credential`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proof: 'a'.repeat(MiB) }) }), 'mint 1 MiB proof');
      const bigHeader = await rawRequest('/oauth/token', { headers: { DPoP: 'a'.repeat(MiB) }, body: '' }).catch((e: Error) => e);
      if (!(bigHeader instanceof Error)) expect(bigHeader.status).toBe(431);
    });
    // Still serving afterwards.
    expect((await probe(`${env()}/healthz`)).status).toBe(200);
  });

  it('S47 S39 owner tRPC mutations and queries: arbitrary inputs → BAD_REQUEST with field errors (or NOT_FOUND), nothing changed', async () => {
    const procedures = ['connect.clients.approve', 'connect.clients.reject', 'connect.clients.revoke', 'connect.securityMode.set'];
    const input = fc.oneof(
      anyJson,
      wrongType.map((v) => ({ clientProofKeyThumbprint: v })),
      text.map((v) => ({ clientProofKeyThumbprint: v })),
      fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((v) => ({ clientProofKeyThumbprint: v })),
      wrongType.map((v) => ({ mode: v })),
      text.map((v) => ({ mode: v })),
    );
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.constantFrom(...procedures), input, async (path, value) => {
          const res = await ownerCall(stack, path, value);
          expectClean4xx(res, `${path} ${JSON.stringify(value).slice(0, 80)}`);
        }),
        { numRuns: 200 },
      ),
    );
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(text, anyJson.map((v) => JSON.stringify(v))), async (raw) => {
          const res = await probe(`${env()}/trpc/connect.audit.list?input=${encodeURIComponent(raw)}`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } });
          // Valid inputs list the audit log; everything else is a clean 4xx.
          if (res.status !== 200) expectClean4xx(res, `audit.list ${raw.slice(0, 60)}`);
        }),
        { numRuns: 100 },
      ),
    );
  });

  it('S47 second-wave owner procedures (names, approvers, invites, pause, webhooks, passkeys): arbitrary inputs → clean 4xx, nothing changed', async () => {
    const notNull = wrongType.filter((v) => v !== null);
    const badId = fc.oneof(wrongType, text);
    const inputs: [string, fc.Arbitrary<unknown>][] = [
      ['connect.clients.rename', fc.oneof(badId.map((v) => ({ clientProofKeyThumbprint: v, name: 'x' })), notNull.map((v) => ({ clientProofKeyThumbprint: 'A'.repeat(43), name: v })))],
      ['connect.clients.endSessions', badId.map((v) => ({ clientProofKeyThumbprint: v }))],
      ['connect.clients.approveConnected', fc.oneof(notNull, fc.array(notNull, { minLength: 1, maxLength: 3 })).map((v) => ({ clientProofKeyThumbprints: v }))],
      ['connect.clients.setApprover', fc.oneof(badId.map((v) => ({ clientProofKeyThumbprint: v, approver: true })), notNull.filter((v) => typeof v !== 'boolean').map((v) => ({ clientProofKeyThumbprint: 'A'.repeat(43), approver: v })))],
      ['connect.invites.create', fc.oneof(notNull.filter((v) => typeof v !== 'string').map((v) => ({ label: v })), fc.oneof(text, fc.constantFrom(-1, 0, 1e12, 86_401, Number.MAX_SAFE_INTEGER)).map((v) => ({ expiresInSeconds: v })))],
      ['connect.invites.revoke', badId.map((v) => ({ inviteId: v }))],
      ['connect.lockdown.set', fc.oneof(text, notNull).map((v) => ({ until: v }))],
      ['connect.webhooks.create', fc.oneof(text.map((v) => ({ url: v, events: 'client.pending', format: 'json' })), anyJson.map((v) => ({ url: 'https://hooks.example.com/x', events: [v, 'nope'], format: 'json' })), text.map((v) => ({ url: 'https://hooks.example.com/x', events: ['client.pending'], format: `${v}!` })))],
      ['connect.webhooks.remove', badId.map((v) => ({ webhookId: v }))],
      ['connect.webhooks.test', badId.map((v) => ({ webhookId: v }))],
      ['owner.passkeys.rename', badId.map((v) => ({ credentialId: v, name: 'x' }))],
      ['owner.passkeys.remove', badId.map((v) => ({ credentialId: v }))],
      ['owner.passkeys.register', anyJson.map((v) => ({ name: 'x', response: v }))],
      ['owner.stepUp.verify', anyJson.map((v) => ({ response: v }))],
    ];
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(...inputs.map(([path, input]) => input.map((value) => [path, value] as const))), async ([path, value]) => {
          const res = await ownerCall(stack, path, value);
          expectClean4xx(res, `${path} ${JSON.stringify(value).slice(0, 80)}`);
          expect(JSON.stringify(res.body), path).not.toMatch(/No (\\"mutation\\"-)?procedure/i); // the path exists: a typo would pass vacuously
        }),
        { numRuns: 300 },
      ),
    );
  });

  it('S47 tRPC plumbing: malformed JSON, batches, unknown procedures, wrong methods, bad event ids → clean 4xx', async () => {
    const auth = { authorization: `Bearer ${stack.env.adminToken}` };
    await unchanged(async () => {
      const cases: Array<[string, RequestInit]> = [
        ['connect.clients.approve', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"clientProofKeyThumbprint":' }],
        ['connect.clients.approve?batch=1', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"0":{"clientProofKeyThumbprint":1},"1":null}' }],
        ['connect.clients.approve,connect.clients.revoke?batch=1', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '[1,2]' }],
        ['connect.nope', { method: 'POST', headers: auth, body: '{}' }],
        ['connect.clients.approve', { method: 'GET', headers: auth }],
        ['connect.clients.list', { method: 'POST', headers: auth, body: '{}' }],
        ['connect.audit.list?input=%E0%A4%A', { headers: auth }],
        ['%E0%A4%A', { headers: auth }],
        ['connect.clients.list', { headers: { authorization: 'Bearer \u00e9' } as never }],
      ];
      for (const [path, init] of cases) {
        const res = await probe(`${env()}/trpc/${path}`, init).catch((e: Error) => e);
        if (res instanceof Error) {
          expect(res.name, path).not.toBe('TimeoutError');
          continue;
        }
        expectClean4xx(res, path);
      }
    });
  });

  it('S45 S47 access.events (SSE) with a bad lastEventId: the stream carries a BAD_REQUEST error event and ends', async () => {
    // tRPC opens a subscription's event stream before it parses the input, so the refusal is an
    // SSE error event (what httpSubscriptionLink reads) rather than an HTTP status. It must still end.
    for (const input of [{ lastEventId: 42 }, { lastEventId: 'x'.repeat(201) }, [1, 2], 'garbage']) {
      const res = await probe(`${env()}/trpc/access.events?input=${encodeURIComponent(JSON.stringify(input))}`, { headers: { authorization: `Bearer ${stack.env.adminToken}` } }, 5000);
      expect(res.status).toBeLessThan(500);
      expect(res.text).toMatch(/event: serialized-error\ndata: .*"code":"BAD_REQUEST"/);
      expect(res.text).not.toMatch(/\.ts:\d+|node_modules/);
    }
  });

  it('S47 S21 client tRPC: arbitrary Authorization and DPoP headers at client.whoami → 401, never 5xx', async () => {
    const url = `${env()}/trpc/client.whoami`;
    const latin1 = fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.option(latin1.map((s) => `DPoP ${s}`), { nil: undefined }), fc.option(fc.oneof(latin1, fc.constant('a.b.c')), { nil: undefined }), async (authorization, dpop) => {
          const headers: Record<string, string> = {};
          if (authorization !== undefined) headers.authorization = authorization;
          if (dpop !== undefined) headers.DPoP = dpop;
          const res = await probe(url, { headers });
          expect(res.status).toBe(401);
          expectClean4xx(res, `whoami ${authorization} ${dpop}`);
        }),
        { numRuns: 100 },
      ),
    );
  });

  it('S47 /login: arbitrary bodies and codes → clean 4xx, no session created', async () => {
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(text, anyJson.map((v) => JSON.stringify(v)), fc.oneof(text, wrongType).map((code) => JSON.stringify({ code }))), contentType, async (body, type) => {
          const res = await probe(`${env()}/login`, { method: 'POST', headers: type ? { 'content-type': type } : {}, body: Buffer.from(body) });
          expectClean4xx(res, `login ${body.slice(0, 60)}`);
          expect(res.headers.get('set-cookie')).toBeNull();
        }),
        { numRuns: 100 },
      ),
    );
  });

  it('S47 odd URLs, methods and paths → 4xx or the web app, never 5xx', async () => {
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 120 }), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'), async (path, method) => {
          const res = await rawRequest(`/${encodeURI(path).replace(/^\/+/, '')}`, { method, headers: {} }).catch((e: Error) => e);
          if (res instanceof Error) return expect(res.message).not.toMatch(/hang/);
          expect(res.status, `${method} ${path}`).toBeLessThan(500);
        }),
        { numRuns: 100 },
      ),
    );
    for (const path of ['/%', '/%zz', '/..%2f..%2fetc%2fpasswd', '/assets/%00', `/${'a'.repeat(20_000)}`]) {
      const res = await rawRequest(path, { method: 'GET' }).catch((e: Error) => e);
      if (!(res instanceof Error)) expect(res.status, path).toBeLessThan(500);
    }
  });
});

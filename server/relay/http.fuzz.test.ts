// Fuzzing the relay's external inputs over real HTTP: the /oauth/token form and DPoP header,
// /v1/links, and the environments.connect tRPC input. Always a clean 4xx, never a 5xx or a hang,
// and the relay's tables (links, replay markers) unchanged by refused requests.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopProof, type DpopSigner } from '../../shared/dpop';
import { dumpTables, expectClean4xx, ID_TOKEN, probe, relayAccessToken, TOKEN_EXCHANGE, type Probe } from '../testing/http-probe';
import { startStack, type Stack } from '../testing/stack';

const MiB = 1024 * 1024;
let stack: Stack;
let relayDir: string;
let relayDb: Database.Database;
let signer: DpopSigner;
let idToken: string;

beforeAll(async () => {
  relayDir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-fuzz-'));
  stack = await startStack({ relay: { dataDir: relayDir } });
  relayDb = new Database(join(relayDir, 'relay.sqlite'), { readonly: true });
  signer = await stack.newSigner();
  idToken = await stack.idToken();
});
afterAll(async () => {
  relayDb.close();
  await stack.close();
  rmSync(relayDir, { recursive: true, force: true });
});

const relay = () => stack.relay.publicUrl;
const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 60 }));
const wrongType = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 3 }));
const latin1 = fc.string({ maxLength: 300 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', undefined);

/** Runs the requests and checks that the relay's tables (or the named ones) did not change. */
async function unchanged(run: () => Promise<void>, tables?: string[]) {
  const pick = (dump: Record<string, unknown[]>) => (tables ? Object.fromEntries(tables.map((t) => [t, dump[t]])) : dump);
  const before = pick(dumpTables(relayDb));
  await run();
  expect(pick(dumpTables(relayDb))).toEqual(before);
}

describe('fuzzing the relay’s HTTP inputs', () => {
  it('S47 S2 /oauth/token: arbitrary forms, DPoP headers and content types → clean 4xx, no marker recorded', async () => {
    const url = `${relay()}/oauth/token`;
    const field = fc.constantFrom('grant_type', 'subject_token', 'subject_token_type', 'audience', '__proto__', '');
    const form = fc.array(fc.tuple(field, text), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString());
    const validForm = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: idToken, subject_token_type: ID_TOKEN }).toString();
    const goodProof = await createDpopProof(signer, { htm: 'POST', htu: url });
    const mutated = fc.tuple(fc.nat(goodProof.length - 1), fc.nat(5)).map(([at, bit]) => goodProof.slice(0, at) + String.fromCharCode(goodProof.charCodeAt(at) ^ (1 << bit)) + goodProof.slice(at + 1));
    const dpop = fc.oneof(latin1, mutated.map((p) => p.replace(/[^\x20-\x7e]/g, '')).filter((p) => p.trim() !== goodProof), fc.constantFrom('', 'a.b.c', `${goodProof}, ${goodProof}`, 'x'.repeat(9000)));
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(form, fc.constant(validForm)), fc.option(dpop, { nil: undefined }), contentType, async (body, proof, type) => {
          const headers: Record<string, string> = {};
          if (type) headers['content-type'] = type;
          if (proof !== undefined) headers.DPoP = proof;
          const res = await probe(url, { method: 'POST', headers, body: Buffer.from(body) });
          expectClean4xx(res, `relay token ${body.slice(0, 60)}`);
          expect(res.headers.get('cache-control')).toBe('no-store');
        }),
        { numRuns: 150 },
      ),
    );
  });

  it('S47 /v1/links: arbitrary bearer tokens and bodies → clean 4xx, no link stored', async () => {
    const bearer = fc.oneof(latin1, fc.constant(idToken), fc.constant(`${idToken.slice(0, -3)}AAA`));
    const body = fc.oneof(text, fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.oneof(text, wrongType).map((proof) => JSON.stringify({ proof })));
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.option(bearer, { nil: undefined }), body, contentType, async (token, raw, type) => {
          const headers: Record<string, string> = {};
          if (token !== undefined) headers.authorization = `Bearer ${token}`;
          if (type) headers['content-type'] = type;
          const res = await probe(`${relay()}/v1/links`, { method: 'POST', headers, body: Buffer.from(raw) });
          expectClean4xx(res, `links ${raw.slice(0, 60)}`);
        }),
        { numRuns: 120 },
      ),
    );
  });

  it('S47 environments.connect: arbitrary inputs with a valid token and proof → clean 4xx; without them → 401', async () => {
    const url = `${relay()}/trpc/environments.connect`;
    const accessToken = String((await relayAccessToken(stack, signer)).body?.access_token);
    const input = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({ environmentId: fc.oneof(text, wrongType), clientProofKeyThumbprint: fc.oneof(text, wrongType, fc.constant(signer.thumbprint)) }),
      fc.record({ environmentId: fc.constant(stack.env.environmentId), clientProofKeyThumbprint: fc.constant(signer.thumbprint), waitSeconds: fc.oneof(fc.integer({ min: 26 }), fc.integer({ max: -1 }), fc.double(), text), client: fc.oneof(wrongType, text) }),
    );
    // Authenticated: each call spends a fresh proof (markers change), links never do.
    await unchanged(
      () =>
        fc.assert(
          fc.asyncProperty(input, async (value) => {
            const res = await probe(url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `DPoP ${accessToken}`, DPoP: await createDpopProof(signer, { htm: 'POST', htu: url, accessToken }) },
              body: JSON.stringify(value),
            });
            expectClean4xx(res, `connect ${JSON.stringify(value).slice(0, 80)}`);
          }),
          { numRuns: 120 },
        ),
      ['relay_links'],
    );
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(fc.option(latin1.map((s) => `DPoP ${s}`), { nil: undefined }), fc.option(latin1, { nil: undefined }), async (authorization, dpop) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (authorization !== undefined) headers.authorization = authorization;
          if (dpop !== undefined) headers.DPoP = dpop;
          const res = await probe(url, { method: 'POST', headers, body: JSON.stringify({ environmentId: stack.env.environmentId, clientProofKeyThumbprint: signer.thumbprint }) });
          expect(res.status).toBe(401);
          expectClean4xx(res, `connect unauthenticated ${authorization}`);
        }),
        { numRuns: 80 },
      ),
    );
  });

  it('S2 S47 oversized bodies (≥ 1 MiB) and bad URLs → 4xx, never a hang; the relay still serves', async () => {
    const huge = Buffer.alloc(MiB + 5, 'a');
    await unchanged(async () => {
      for (const path of ['/oauth/token', '/v1/links', '/v1/links/env_x', '/trpc/environments.connect']) {
        const res = await probe(`${relay()}${path}`, { method: path === '/v1/links/env_x' ? 'DELETE' : 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${idToken}` }, body: huge }).catch((e: Error) => e);
        if (res instanceof Error) expect(res.name, path).not.toBe('TimeoutError');
        else expectClean4xx(res, `${path} 1 MiB`);
      }
      for (const path of ['/trpc/%E0%A4%A', '/%', '/trpc/environments.connect,environments.connect?batch=1', '/v1/links/%ZZ']) {
        const res = await probe(`${relay()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expectClean4xx(res, path);
      }
    });
    expect((await probe(`${relay()}/healthz`)).status).toBe(200);
  });
});

import dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, CompactEncrypt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDpopProof } from '../../shared/dpop';
import { jwkThumbprint } from '../../shared/thumbprint';
import { b64, claims, ed25519Key, es256Key, header, NOW, proofWith, signRaw, verifyOptions } from './dpop-test-kit';
import { DpopError, readDpopHeader, verifyDpopProof } from './verify-dpop';

const rejects = (proof: string, message?: RegExp, opts = verifyOptions) =>
  expect(verifyDpopProof(proof, opts)).rejects.toThrow(message ?? DpopError);

/** The ASN.1 DER form of a P1363 r||s signature, which JWS must never accept. */
function derOf(p1363: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let v = [...bytes];
    while (v.length > 1 && v[0] === 0 && (v[1] ?? 0) < 0x80) v = v.slice(1);
    if ((v[0] ?? 0) >= 0x80) v = [0, ...v];
    return [0x02, v.length, ...v];
  };
  const body = [...integer(p1363.slice(0, 32)), ...integer(p1363.slice(32))];
  return new Uint8Array([0x30, body.length, ...body]);
}

async function expectDpopError(proof: string, message?: RegExp): Promise<void> {
  const error = await verifyDpopProof(proof, verifyOptions).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DpopError);
  expect((error as DpopError).reason).toBe('invalid_dpop_proof');
  if (message) expect((error as DpopError).message).toMatch(message);
}

describe('readDpopHeader', () => {
  it('S1 reads the one DPoP header, matching its name case-insensitively', () => {
    expect(readDpopHeader(['Host', 'env', 'DPoP', 'a.b.c'])).toBe('a.b.c');
    expect(readDpopHeader(['DPOP', 'a.b.c'])).toBe('a.b.c');
    expect(readDpopHeader(['dpop', 'a.b.c', 'Authorization', 'DPoP t'])).toBe('a.b.c');
  });

  it('S1 refuses a missing header, two headers, and a comma-joined value', () => {
    expect(() => readDpopHeader(['Host', 'env'])).toThrow(/missing DPoP proof/);
    expect(() => readDpopHeader(['DPoP', 'a.b.c', 'dpop', 'd.e.f'])).toThrow(DpopError);
    expect(() => readDpopHeader(['DPoP', 'a.b.c', 'DPoP', 'a.b.c'])).toThrow(/more than one/);
    expect(() => readDpopHeader(['DPoP', 'a.b.c, d.e.f'])).toThrow(DpopError);
  });

  it('S1 sees both headers a real Node server receives, though req.headers joins them', async () => {
    const seen: Array<{ joined: unknown; error: unknown }> = [];
    const server = http.createServer((req, res) => {
      let error: unknown;
      try {
        readDpopHeader(req.rawHeaders);
      } catch (e) {
        error = e;
      }
      seen.push({ joined: req.headers.dpop, error });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const options = { port, host: '127.0.0.1', method: 'POST', headers: { DPoP: ['a.b.c', 'd.e.f'] } };
      const req = http.request(options, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(seen[0]?.joined).toBe('a.b.c, d.e.f');
    expect(seen[0]?.error).toBeInstanceOf(DpopError);
  });
});

describe('verifyDpopProof: shape, typ, alg, key', () => {
  afterEach(() => vi.restoreAllMocks());

  it('accepts a proof from the shared client code, and an EdDSA proof', async () => {
    const es = await es256Key();
    const proof = await createDpopProof(es.signer, { htm: 'POST', htu: verifyOptions.url, now: NOW });
    const verified = await verifyDpopProof(proof, verifyOptions);
    expect(verified.thumbprint).toBe(es.signer.thumbprint);
    expect(verified.jwk).toEqual(es.signer.publicJwk);
    const ed = await ed25519Key();
    expect((await verifyDpopProof(await proofWith(ed), verifyOptions)).thumbprint).toBe(await jwkThumbprint(ed.publicJwk));
  });

  it('S2 checks the size cap before parsing anything', async () => {
    await expectDpopError('!'.repeat(8193), /too large/);
    const key = await es256Key();
    await expectDpopError(await proofWith(key, { pad: 'x'.repeat(8192) }), /too large/);
  });

  it('S2 requires exactly three non-empty canonical base64url segments', async () => {
    const proof = await proofWith(await es256Key());
    const [h, p, s] = proof.split('.') as [string, string, string];
    const bad = [
      '', `${h}.${p}`, `${h}.${p}.${s}.`, `${h}..${s}`, `.${p}.${s}`, `${h}.${p}.`, `${h}.${p}.${s}=`,
      `${h}=.${p}.${s}`, ` ${proof}`, `${proof} `, `${h}.${p}.${s}\n`, `${h}. ${p}.${s}`,
      `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+/`, `${h}.${p}.${s}A`, `${h}.${p}.${s}AA`, 'a.b.c', '...',
    ];
    for (const value of bad) await expectDpopError(value);
  });

  it('S2 refuses a non-canonical signature spelling that decodes to the very same bytes', async () => {
    const proof = await proofWith(await es256Key());
    const [h, p, sig] = proof.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const variant = sig.slice(0, -1) + alphabet[alphabet.indexOf(sig.at(-1) ?? '') ^ 1];
    expect(base64url.decode(variant)).toEqual(base64url.decode(sig));
    await expectDpopError(`${h}.${p}.${variant}`, /canonical/);
  });

  it('S3 accepts dpop+jwt case-insensitively and with application/', async () => {
    const key = await es256Key();
    for (const typ of ['DPoP+JWT', 'application/dpop+jwt', 'Application/DPOP+jwt']) {
      await expect(verifyDpopProof(await proofWith(key, {}, { typ }), verifyOptions)).resolves.toBeTruthy();
    }
  });

  it('S3 refuses every other typ', async () => {
    const key = await es256Key();
    const typs = [undefined, 'JWT', 'at+jwt', 'gatehouse-mint-response+jwt', 'gatehouse-mint-request+jwt',
      'gatehouse-relay-access+jwt', 'dpop+jwt+x', 'xdpop+jwt', 'application/dpop+jwtx', 'dpop+jwt ', 'dpop%2Bjwt',
      'text/dpop+jwt', 'dpop+jωt', 'dpop\u200b+jwt', 1, null, ['dpop+jwt'], { typ: 'dpop+jwt' }];
    for (const typ of typs) await expectDpopError(await proofWith(key, {}, { typ }), /typ/);
  });

  it('S4 allows exactly ES256, EdDSA and its RFC 9864 name Ed25519', async () => {
    const key = await es256Key();
    const algs = [undefined, 'none', 'None', 'NONE', 'HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES384', 'ES512',
      'ES256K', 'Ed448', 'ed25519', 'ED25519', 'Ed25519 ', 'es256', 'ES256 ', 'eddsa', 'toString', '__proto__', '', 1, null, ['ES256']];
    for (const alg of algs) await expectDpopError(await proofWith(key, {}, { alg }), /alg/);
    const ed = await ed25519Key();
    const named = { ...ed, alg: 'Ed25519' as const };
    expect((await verifyDpopProof(await proofWith(named), verifyOptions)).thumbprint).toBe(await jwkThumbprint(ed.publicJwk));
    // Ed25519 names the key type as strictly as EdDSA: a P-256 key under it is refused, and a flipped bit too.
    await expectDpopError(await proofWith(named, {}, { jwk: key.publicJwk }), /jwk/);
    const good = await proofWith(named);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[5]! ^= 1;
    await expectDpopError(`${h}.${p}.${sig.toString('base64url')}`, /signature/);
    const unsigned = `${b64(JSON.stringify(header(key, { alg: 'none' })))}.${b64(JSON.stringify(claims()))}.`;
    await expectDpopError(unsigned);
  });

  it('S4 refuses HS256 keyed with the public key bytes', async () => {
    const key = await es256Key();
    const secret = base64url.decode(String(key.publicJwk.x));
    const forged = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.publicJwk })
      .sign(secret);
    await expectDpopError(forged, /alg/);
  });

  it('S5 refuses jku, x5u and x5c, and never does I/O for them or for kid', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const lookupSpy = vi.spyOn(dns, 'lookup');
    const resolveSpy = vi.spyOn(dns.promises, 'lookup');
    const requestSpy = vi.spyOn(http, 'request');
    const key = await es256Key();
    for (const name of ['jku', 'x5u'] as const) {
      await expectDpopError(await proofWith(key, {}, { [name]: 'https://attacker.example/keys' }), new RegExp(name));
    }
    await expectDpopError(await proofWith(key, {}, { x5c: ['MIIB'] }), /x5c/);
    const withKid = await proofWith(key, {}, { kid: 'https://attacker.example/k' });
    await expect(verifyDpopProof(withKid, verifyOptions)).resolves.toBeTruthy();
    for (const spy of [fetchSpy, lookupSpy, resolveSpy, requestSpy]) expect(spy).not.toHaveBeenCalled();
  });

  it('S6 requires a jwk object whose kty/crv match alg', async () => {
    const es = await es256Key();
    const ed = await ed25519Key();
    const rsa = await exportJWK((await generateKeyPair('RS256')).publicKey);
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign']);
    const p384Jwk = await crypto.subtle.exportKey('jwk', p384.publicKey);
    const p384Header = header(es, { jwk: { kty: 'EC', crv: 'P-384', x: p384Jwk.x, y: p384Jwk.y } });
    const p384Proof = await signRaw(p384Header, claims(), p384.privateKey);
    await expectDpopError(p384Proof, /jwk/);
    const badJwks = [undefined, null, [], 'foo', 1, true, { kty: 'oct', k: 'c2VjcmV0' }, rsa, ed.publicJwk,
      { kty: 'OKP', crv: 'Ed448', x: base64url.encode(new Uint8Array(57)) }, { ...es.publicJwk, crv: 'P-256K' }];
    for (const jwk of badJwks) await expectDpopError(await proofWith(es, {}, { jwk }), /jwk/);
    await expectDpopError(await proofWith(ed, {}, { jwk: es.publicJwk }), /jwk/);
    await expectDpopError(await proofWith(ed, {}, { jwk: { ...ed.publicJwk, crv: 'Ed448' } }), /jwk/);
  });

  it('S7 refuses a jwk carrying any private member', async () => {
    const es = await es256Key();
    await expectDpopError(await proofWith(es, {}, { jwk: es.privateJwk }), /private/);
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      await expectDpopError(await proofWith(es, {}, { jwk: { ...es.publicJwk, [member]: 'AQAB' } }), /private/);
    }
    const ed = await ed25519Key();
    await expectDpopError(await proofWith(ed, {}, { jwk: ed.privateJwk }), /private/);
  });

  it('S24 refuses a non-canonical spelling of the signing key, and a point not on the curve', async () => {
    const es = await es256Key();
    const x = String(es.publicJwk.x);
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const variant = x.slice(0, -1) + last[last.indexOf(x.at(-1) ?? '') ^ 1];
    await expectDpopError(await proofWith(es, {}, { jwk: { ...es.publicJwk, x: variant } }), /jwk/);
    await expectDpopError(await proofWith(es, {}, { jwk: { ...es.publicJwk, x: `${x}=` } }), /jwk/);
    const offCurve = { ...es.publicJwk, y: base64url.encode(new Uint8Array(32).fill(7)) };
    await expectDpopError(await proofWith(es, {}, { jwk: offCurve }), /jwk/);
  });

  it('S8 refuses a flipped bit anywhere, another key, r=s=0, DER and wrong-length signatures', async () => {
    const es = await es256Key();
    const proof = await proofWith(es);
    const segments = proof.split('.');
    for (let part = 0; part < 3; part++) {
      for (const bit of [0, 7, 13, 100]) {
        const bytes = base64url.decode(segments[part] ?? '');
        const i = (bit >> 3) % bytes.length;
        bytes[i] = (bytes[i] ?? 0) ^ (1 << (bit & 7));
        await expectDpopError(segments.map((s, j) => (j === part ? base64url.encode(bytes) : s)).join('.'));
      }
    }
    const other = await es256Key();
    await expectDpopError(await signRaw(header(es), claims(), other.privateKey), /signature/);
    const input = `${segments[0]}.${segments[1]}`;
    const raw = base64url.decode(segments[2] ?? '');
    const wrong = [new Uint8Array(64), derOf(raw), raw.slice(0, 63), new Uint8Array([...raw, 0]), raw.slice(0, 32)];
    for (const sig of wrong) {
      await expectDpopError(`${input}.${base64url.encode(sig)}`);
    }
    const ed = await ed25519Key();
    const edSegments = (await proofWith(ed)).split('.');
    for (const sig of [new Uint8Array(64), new Uint8Array(63), new Uint8Array(65)]) {
      await expectDpopError(`${edSegments[0]}.${edSegments[1]}.${base64url.encode(sig)}`);
    }
  });

  it('S32 refuses crit, b64 and duplicate member names in header, payload or jwk', async () => {
    const es = await es256Key();
    await expectDpopError(await proofWith(es, {}, { crit: ['exp'], exp: 1 }), /critical/);
    await expectDpopError(await proofWith(es, {}, { crit: [] }), /critical/);
    await expectDpopError(await proofWith(es, {}, { crit: ['b64'], b64: false }), /critical/);
    await expectDpopError(await proofWith(es, {}, { b64: false }), /unencoded/);
    const h = JSON.stringify(header(es));
    const p = JSON.stringify(claims());
    const evil = JSON.stringify('https://evil.example/oauth/token');
    await expectDpopError(await signRaw(h.replace('{', `{"typ":"JWT",`), p, es.privateKey), /duplicate/);
    await expectDpopError(await signRaw(h.replace('{', '{"\\u0061lg":"none",'), p, es.privateKey), /duplicate/);
    await expectDpopError(await signRaw(h, p.replace('{', `{"htu":${evil},`), es.privateKey), /duplicate/);
    await expectDpopError(await signRaw(h, p.replace('}', `,"iat":${NOW / 1000}}`), es.privateKey), /duplicate/);
    await expectDpopError(await signRaw(h.replace('"jwk":{', '"jwk":{"x":"AAAA",'), p, es.privateKey), /duplicate/);
    await expectDpopError(await signRaw(h, '[1]', es.privateKey), /object/);
    await expectDpopError(await signRaw(h, `${p} x`, es.privateKey), /JSON/);
  });

  it('S33 refuses a 5-segment JWE and any zip or enc header before decrypting anything', async () => {
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims())))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'dpop+jwt' })
      .encrypt(crypto.getRandomValues(new Uint8Array(32)));
    expect(jwe.split('.')).toHaveLength(5);
    await expectDpopError(jwe, /encrypted/);
    const es = await es256Key();
    await expectDpopError(await proofWith(es, {}, { zip: 'DEF' }), /compressed/);
    await expectDpopError(await proofWith(es, {}, { enc: 'A256GCM' }), /encrypted/);
  });

  it('rejects only with DpopError for a non-string input', async () => {
    await rejects(undefined as unknown as string);
    await rejects(42 as unknown as string);
  });
});

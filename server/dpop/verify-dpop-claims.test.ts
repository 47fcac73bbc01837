import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDpopProof } from '../../shared/dpop';
import { claims, ed25519Key, ENDPOINT, es256Key, header, NOW, NOW_S, proofWith, signRaw, verifyOptions } from './dpop-test-kit';
import { DPOP_MAX_AGE_SECONDS, DPOP_MAX_FUTURE_SECONDS, DpopError, verifyDpopProof, type VerifyDpopOptions } from './verify-dpop';

async function outcome(proof: string, opts: VerifyDpopOptions = verifyOptions): Promise<'ok' | string> {
  return verifyDpopProof(proof, opts).then(
    () => 'ok',
    (error: unknown) => {
      expect(error).toBeInstanceOf(DpopError);
      return (error as DpopError).message;
    },
  );
}

describe('verifyDpopProof: claims', () => {
  it('S9 requires jti, htm, htu and iat with the right types', async () => {
    const key = await es256Key();
    const bad: Array<Record<string, unknown>> = [
      { jti: undefined }, { htm: undefined }, { htu: undefined }, { iat: undefined },
      { jti: 12345678901234567890 }, { jti: ['jti-0123456789abcdef'] }, { jti: null },
      { htm: 1 }, { htm: ['POST'] }, { htu: { href: ENDPOINT } }, { htu: 1 },
      { iat: String(NOW_S) }, { iat: NOW_S + 0.5 }, { iat: -1 }, { iat: null }, { iat: 1e20 }, { iat: [NOW_S] },
    ];
    for (const overrides of bad) expect(await outcome(await proofWith(key, overrides)), JSON.stringify(overrides)).not.toBe('ok');
    // Non-finite numbers can only arrive as raw JSON text: 1e309 parses to Infinity.
    for (const iat of ['1e309', '-1e309', 'NaN', 'Infinity']) {
      const payload = JSON.stringify(claims({ iat: 0 })).replace('"iat":0', `"iat":${iat}`);
      expect(await outcome(await signRaw(header(key), payload, key.privateKey))).not.toBe('ok');
    }
  });

  it('S10 requires htm to equal the request method', async () => {
    const key = await es256Key();
    for (const htm of ['PUT', 'GET', 'post', 'POST ', '']) {
      expect(await outcome(await proofWith(key, { htm }))).toMatch(/htm/);
    }
    expect(await outcome(await proofWith(key, { htm: 'GET' }), { ...verifyOptions, method: 'GET' })).toBe('ok');
  });

  it('S11 accepts an upper-case scheme or host, the default port, and a query or fragment', async () => {
    const key = await es256Key();
    const accepted: Array<[string, string]> = [
      ['HTTPS://ENV.EXAMPLE:4100/oauth/token', ENDPOINT],
      ['https://Env.Example:4100/oauth/token?q=1#f', ENDPOINT],
      ['https://env.example:443/oauth/token', 'https://env.example/oauth/token'],
      ['https://env.example/oauth/token', 'https://env.example:443/oauth/token?configured=query'],
      ['http://127.0.0.1:80/api/connect/mint-credential', 'http://127.0.0.1/api/connect/mint-credential'],
      ['https://env.example', 'https://env.example/'],
    ];
    for (const [htu, url] of accepted) expect(await outcome(await proofWith(key, { htu }), { ...verifyOptions, url }), htu).toBe('ok');
  });

  it('S11 refuses another host, scheme, port, path, prefix or path case, userinfo and dot segments', async () => {
    const key = await es256Key();
    const refused = [
      'https://evil.example:4100/oauth/token', 'http://env.example:4100/oauth/token', 'https://env.example/oauth/token',
      'https://env.example:4101/oauth/token', 'https://env.example:4100/oauth/token2', 'https://env.example:4100/oauth',
      'https://env.example:4100/oauth/token/', 'https://env.example:4100/OAuth/token', 'https://env.example:4100/oauth/Token',
      'https://a@env.example:4100/oauth/token', 'https://a:b@env.example:4100/oauth/token', 'https://@env.example:4100/oauth/token',
      'https://env.example:4100/x/../oauth/token', 'https://env.example:4100/./oauth/token', 'https://env.example:4100/x/%2e%2E/oauth/token',
      'https://env.example:4100/x/.%2e/oauth/token', 'https://env.example:4100/oauth/token/..', 'https://env.example:4100\\oauth\\token',
      'https:///env.example:4100/oauth/token', 'https:/env.example:4100/oauth/token', ' https://env.example:4100/oauth/token',
      'https://env.example:4100/oauth/token ', 'https://env.exa\tmple:4100/oauth/token', 'https://%65nv.example:4100/oauth/token',
      'https://env.example.:4100/oauth/token', 'https://env.example:4100/oauth/tokén', '/oauth/token', 'env.example:4100/oauth/token',
      'wss://env.example:4100/oauth/token', 'javascript://env.example:4100/oauth/token', '', `https://env.example:4100/${'a'.repeat(4100)}`,
    ];
    for (const htu of refused) expect(await outcome(await proofWith(key, { htu })), htu).toMatch(/htu/);
  });

  it('S11 compares with the configured URL only: a proof for the Host a proxy forwarded is refused', async () => {
    const key = await es256Key();
    const proof = await proofWith(key, { htu: 'https://internal-host:8080/oauth/token' });
    expect(await outcome(proof, { ...verifyOptions, url: ENDPOINT })).toMatch(/htu/);
    await expect(verifyDpopProof(proof, { ...verifyOptions, url: 'not a url' })).rejects.toThrow(TypeError);
  });

  it('S12 accepts iat from now−60 to now+5 inclusive and nothing outside', async () => {
    const key = await es256Key();
    expect(await outcome(await proofWith(key, { iat: NOW_S - DPOP_MAX_AGE_SECONDS }))).toBe('ok');
    expect(await outcome(await proofWith(key, { iat: NOW_S - 61 }))).toMatch(/too old/);
    expect(await outcome(await proofWith(key, { iat: NOW_S + DPOP_MAX_FUTURE_SECONDS }))).toBe('ok');
    expect(await outcome(await proofWith(key, { iat: NOW_S + 6 }))).toMatch(/future/);
    expect(await outcome(await proofWith(key, { iat: 0 }))).toMatch(/too old/);
    // Sub-second clocks: the window is counted in whole seconds of `now`.
    const late = { ...verifyOptions, now: NOW + 999 };
    expect(await outcome(await proofWith(key, { iat: NOW_S - 60 }), late)).toBe('ok');
    expect(await outcome(await proofWith(key, { iat: NOW_S + 5 }), late)).toBe('ok');
    expect(await outcome(await proofWith(key, { iat: NOW_S + 6 }), late)).toMatch(/future/);
  });

  it('S15 bounds jti to 16–128 characters', async () => {
    const key = await es256Key();
    for (const jti of ['j'.repeat(16), 'j'.repeat(128)]) expect(await outcome(await proofWith(key, { jti }))).toBe('ok');
    for (const jti of ['', 'j'.repeat(15), 'j'.repeat(129)]) expect(await outcome(await proofWith(key, { jti }))).toMatch(/jti/);
  });

  it('S15 derives the replay key from sha256(thumbprint:jti), so equal jtis from two clients do not collide', async () => {
    const a = await es256Key();
    const b = await es256Key();
    const jti = 'shared-jti-value-0001';
    const va = await verifyDpopProof(await proofWith(a, { jti }), verifyOptions);
    const vb = await verifyDpopProof(await proofWith(b, { jti }), verifyOptions);
    expect(va.replayKey).toBe(createHash('sha256').update(`${va.thumbprint}:${jti}`).digest('hex'));
    expect(va.replayKey).not.toBe(vb.replayKey);
  });

  it('S14 S16 records nothing: a failing proof leaves its jti usable and the replay marker outlives the window', async () => {
    const key = await es256Key();
    const jti = 'jti-burnt-by-a-bad-proof';
    for (const bent of [{ htu: 'https://evil.example/oauth/token' }, { iat: NOW_S - 61 }]) {
      expect(await outcome(await proofWith(key, { jti, ...bent }))).not.toBe('ok');
    }
    expect(await outcome(await signRaw(header(key, { typ: 'JWT' }), claims({ jti }), key.privateKey))).toMatch(/typ/);
    const proof = await proofWith(key, { jti, iat: NOW_S + 5 });
    const first = await verifyDpopProof(proof, verifyOptions);
    const second = await verifyDpopProof(proof, verifyOptions);
    expect(second).toEqual(first);
    expect(first.replayExpiresAt).toBe((NOW_S + 5 + 60 + 5) * 1000);
    // A proof dated +5 s stays acceptable until its iat is 60 s old; the marker must outlive that moment.
    const lastAccepted = NOW + 65_999;
    expect(await outcome(proof, { ...verifyOptions, now: lastAccepted })).toBe('ok');
    expect(await outcome(proof, { ...verifyOptions, now: lastAccepted + 1 })).toMatch(/too old/);
    expect(first.replayExpiresAt).toBeGreaterThan(lastAccepted);
  });

  it('S21 checks ath against the access token when one is presented', async () => {
    const key = await es256Key();
    const token = 'relay-access-token';
    const withToken = { ...verifyOptions, accessToken: token };
    const good = await createDpopProof(key.signer, { htm: 'POST', htu: ENDPOINT, accessToken: token, now: NOW });
    expect(await outcome(good, withToken)).toBe('ok');
    expect(await outcome(good, verifyOptions)).toBe('ok');
    const other = await createDpopProof(key.signer, { htm: 'POST', htu: ENDPOINT, accessToken: 'another', now: NOW });
    expect(await outcome(other, withToken)).toMatch(/ath/);
    expect(await outcome(await proofWith(key), withToken)).toMatch(/ath/);
    const ath = createHash('sha256').update(token).digest('base64url');
    for (const bad of [`${ath}=`, ath.toUpperCase(), 1, null, [ath], createHash('sha256').update(token).digest('hex')]) {
      expect(await outcome(await proofWith(key, { ath: bad }), withToken)).toMatch(/ath/);
    }
  });

  it('S23 returns the thumbprint of the key that verified the signature', async () => {
    const ed = await ed25519Key();
    const verified = await verifyDpopProof(await proofWith(ed), verifyOptions);
    expect(verified.jwk).toEqual(ed.publicJwk);
    expect(verified).toMatchObject({ htm: 'POST', htu: ENDPOINT, iat: NOW_S, jti: 'jti-0123456789abcdef' });
  });
});

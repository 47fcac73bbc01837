// The embedded account issuer's store: nothing forgotten before it expires (oidc-provider's
// quick-start adapter forgets after 1,000 entries), expired entries gone, grants revoked together,
// and a full store refuses a write instead of evicting a live entry.
import { describe, expect, it } from 'vitest';
import { manualClock } from '../common/clock';
import { createIssuerStore } from './memory-adapter';

type Adapter = {
  upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Record<string, unknown> | undefined>;
  findByUid(uid: string): Promise<Record<string, unknown> | undefined>;
  findByUserCode(code: string): Promise<Record<string, unknown> | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
};

function store(maxEntries?: number) {
  const clock = manualClock(Date.UTC(2026, 11, 1));
  const s = createIssuerStore({ now: () => clock.now(), ...(maxEntries && { maxEntries }) });
  const model = (name: string) => new s.Adapter(name) as Adapter;
  return { clock, s, model };
}

describe('the issuer store', () => {
  it('keeps every replay entry until it expires, far past the 1,000 the quick-start adapter holds', async () => {
    const { s, model, clock } = store();
    const replay = model('ReplayDetection');
    for (let i = 0; i < 5000; i++) await replay.upsert(`jti-${i}`, { iss: 'client' }, 120);
    await model('Session').upsert('s1', { uid: 'u1' }, 3600);
    expect(await replay.find('jti-0')).toEqual({ iss: 'client' }); // the oldest is still there: a replay of it is caught
    expect(s.entries('ReplayDetection')).toBe(5000);
    clock.advance(119_000);
    expect(await replay.find('jti-0')).toBeDefined();
    clock.advance(2_000);
    expect(await replay.find('jti-0')).toBeUndefined();
    expect(s.entries('ReplayDetection')).toBe(0); // swept
    expect(await model('Session').findByUid('u1')).toEqual({ uid: 'u1' });
    s.close();
  });

  it('finds sessions by uid and device codes by user code, consumes and destroys', async () => {
    const { s, model } = store();
    await model('Session').upsert('sess', { uid: 'uid-1', accountId: 'owner' }, 60);
    await model('DeviceCode').upsert('dc', { userCode: 'ABCD-EFGH', grantId: 'g' }, 600);
    expect(await model('Session').findByUid('uid-1')).toMatchObject({ accountId: 'owner' });
    expect(await model('Session').findByUid('nope')).toBeUndefined();
    expect(await model('DeviceCode').findByUserCode('ABCD-EFGH')).toMatchObject({ grantId: 'g' });
    await model('DeviceCode').consume('dc');
    expect((await model('DeviceCode').find('dc'))?.consumed).toEqual(expect.any(Number));
    await model('DeviceCode').consume('missing'); // consuming what is gone is no error
    await model('Session').destroy('sess');
    expect(await model('Session').findByUid('uid-1')).toBeUndefined();
    s.close();
  });

  it('revokes every token of a grant together, and nothing of another grant', async () => {
    const { s, model } = store();
    await model('AccessToken').upsert('at1', { grantId: 'g1' }, 60);
    await model('RefreshToken').upsert('rt1', { grantId: 'g1' }, 14 * 24 * 3600);
    await model('RefreshToken').upsert('rt2', { grantId: 'g2' }, 14 * 24 * 3600);
    await model('AccessToken').revokeByGrantId('g1');
    expect(await model('AccessToken').find('at1')).toBeUndefined();
    expect(await model('RefreshToken').find('rt1')).toBeUndefined();
    expect(await model('RefreshToken').find('rt2')).toEqual({ grantId: 'g2' });
    s.close();
  });

  it('keeps a grant as long as its longest-lived token, so a late revoke still finds the refresh token', async () => {
    const { s, model, clock } = store();
    await model('RefreshToken').upsert('rt', { grantId: 'g' }, 3600);
    await model('AccessToken').upsert('at', { grantId: 'g' }, 60); // shorter, written later
    clock.advance(120_000);
    await model('AccessToken').revokeByGrantId('g');
    expect(await model('RefreshToken').find('rt')).toBeUndefined();
    s.close();
  });

  it('refuses a write when full of live entries instead of forgetting one, and takes writes again once some expire', async () => {
    const { s, model, clock } = store(100);
    const replay = model('ReplayDetection');
    for (let i = 0; i < 100; i++) await replay.upsert(`j${i}`, {}, i < 50 ? 10 : 600);
    await expect(replay.upsert('one-more', {}, 600)).rejects.toThrow(/store is full/);
    expect(await replay.find('j0')).toEqual({}); // nothing live was dropped
    await replay.upsert('j1', { again: true }, 600); // updating an entry it holds is fine
    clock.advance(11_000);
    await replay.upsert('one-more', {}, 600);
    expect(s.entries()).toBe(52); // j1 (written again with a longer life), j50–j99, one-more
    s.close();
  });
});

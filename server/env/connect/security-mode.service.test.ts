import { describe, expect, it } from 'vitest';
import { listAudit } from '../audit/audit.service';
import { createTestDeps, fakeThumbprint } from '../testing';
import { listClients } from './clients.service';
import { requestClient } from './client-requests.service';
import { approveClient } from './client-decisions.service';
import { getSecurityMode, readSecurityModeState, setSecurityMode } from './security-mode.service';
import type { AccessEvent } from '../../../shared/contracts';

const corrupt = (deps: ReturnType<typeof createTestDeps>['deps'], value: string) => {
  deps.db.$client.pragma('ignore_check_constraints = ON');
  deps.db.$client.prepare("INSERT OR REPLACE INTO connect_settings (id, security_mode, updated_at) VALUES (1, ?, '2026-01-01T00:00:00.000Z')").run(value);
  deps.db.$client.pragma('ignore_check_constraints = OFF');
};

describe('security mode', () => {
  it('is account when no row exists', () => {
    const { deps } = createTestDeps();
    expect(getSecurityMode(deps.db)).toBe('account');
  });

  it('is stored, audited with its actor, and published as an event', () => {
    const { deps } = createTestDeps();
    const events: AccessEvent[] = [];
    deps.bus.subscribe((e) => events.push(e));
    expect(setSecurityMode(deps, 'client-approval', 'web')).toEqual({ mode: 'client-approval', endedSessions: 0 });
    expect(getSecurityMode(deps.db)).toBe('client-approval');
    expect(events.map((e) => e.type)).toEqual(['connectSecurityModeUpdated']);
    expect(listAudit(deps)[0]).toMatchObject({ actor: 'web', action: 'security_mode_set', detail: { from: 'account', to: 'client-approval' } });
  });

  it('setting the same mode again records nothing new', () => {
    const { deps } = createTestDeps();
    setSecurityMode(deps, 'client-approval', 'cli');
    setSecurityMode(deps, 'client-approval', 'cli');
    expect(listAudit(deps)).toHaveLength(1);
  });

  it('fails closed on an unknown stored value: an error that says how to reset it, never account', () => {
    const { deps } = createTestDeps();
    corrupt(deps, 'open-to-all');
    expect(() => getSecurityMode(deps.db)).toThrow(/not a known mode.*gatehouse connect security --mode/);
    expect(readSecurityModeState(deps.db)).toMatchObject({ mode: null });
    try {
      getSecurityMode(deps.db);
    } catch (error) {
      expect(error).toMatchObject({ reason: 'security_mode_unreadable', kind: 'internal' });
    }
  });

  it('recovers from an unreadable value by setting a mode', () => {
    const { deps } = createTestDeps();
    corrupt(deps, '');
    setSecurityMode(deps, 'client-approval', 'web');
    expect(getSecurityMode(deps.db)).toBe('client-approval');
    expect(listAudit(deps)[0]?.detail).toEqual({ from: null, to: 'client-approval' });
  });

  it('switching modes never approves anyone and keeps earlier decisions', () => {
    const { deps } = createTestDeps();
    setSecurityMode(deps, 'client-approval', 'web');
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(1), accountId: 'owner' });
    requestClient(deps, { clientProofKeyThumbprint: fakeThumbprint(2), accountId: 'owner' });
    approveClient(deps, fakeThumbprint(2), 'web');
    setSecurityMode(deps, 'account', 'web');
    setSecurityMode(deps, 'client-approval', 'web');
    const statuses = Object.fromEntries(listClients(deps).map((c) => [c.clientProofKeyThumbprint, c.status]));
    expect(statuses).toEqual({ [fakeThumbprint(1)]: 'pending', [fakeThumbprint(2)]: 'approved' });
  });
});

import { describe, expect, it } from 'vitest';
import { describeAuditEntry } from './audit-text';

describe('describeAuditEntry', () => {
  it('names the mode change in words', () => {
    expect(describeAuditEntry({ action: 'security_mode_set', detail: { from: 'account', to: 'client-approval' } }, null)).toBe('Changed the security mode from account access to client approval');
    expect(describeAuditEntry({ action: 'security_mode_set', detail: { from: null, to: 'account' } }, null)).toBe('Changed the security mode from unreadable to account access');
  });

  it('names the client and the sessions a decision ended', () => {
    expect(describeAuditEntry({ action: 'client_revoked', detail: { was: 'approved', endedSessions: 2 } }, 'Pixel')).toBe('Revoked Pixel (ended 2 sessions)');
    expect(describeAuditEntry({ action: 'client_rejected', detail: { was: 'pending', endedSessions: 0 } }, null)).toBe('Rejected a client');
    expect(describeAuditEntry({ action: 'client_requested', detail: {} }, 'Chrome on Linux')).toBe('Chrome on Linux asked to connect');
    expect(describeAuditEntry({ action: 'client_account_changed', detail: { endedSessions: 1 } }, 'Laptop')).toBe('Laptop asked again from a different account; its earlier decision was cleared (ended 1 session)');
  });

  it('shows a legacy text detail as it was written', () => {
    expect(describeAuditEntry({ action: 'client_account_changed', detail: { legacy: 'requested from another account; decision cleared' } }, null)).toBe(
      'client account changed: requested from another account; decision cleared',
    );
  });
});

describe('aggregated drops', () => {
  it('reads the count of an aggregated drop entry', () => {
    const lastAt = '2026-01-01T00:00:00.000Z';
    expect(describeAuditEntry({ action: 'pending_evicted', detail: { count: 12, sample: ['a', 'b'], lastAt } }, null)).toBe('12 pending requests were dropped (too many pending requests)');
    expect(describeAuditEntry({ action: 'pending_expired', detail: { count: 3, sample: ['a'], lastAt } }, null)).toBe('3 pending requests expired after 24 hours');
    expect(describeAuditEntry({ action: 'pending_evicted', detail: { count: 1, sample: ['a'], lastAt } }, 'Laptop')).toBe('The request of Laptop was dropped (too many pending requests)');
  });
});

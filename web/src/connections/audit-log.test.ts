import { describe, expect, it } from 'vitest';
import { describeAuditEntry } from './audit-log';

describe('describeAuditEntry', () => {
  it('names the mode change in words', () => {
    expect(describeAuditEntry({ action: 'security_mode_set', detail: 'account → client-approval' }, null)).toBe(
      'Changed the security mode from account access to client approval',
    );
    expect(describeAuditEntry({ action: 'security_mode_set', detail: 'unreadable → account' }, null)).toBe(
      'Changed the security mode from unreadable to account access',
    );
    expect(describeAuditEntry({ action: 'security_mode_set', detail: 'account → client-approval; ended 3 session(s) of clients that are not approved' }, null)).toBe(
      'Changed the security mode from account access to client approval (ended 3 sessions)',
    );
  });

  it('names the client and the sessions a decision ended', () => {
    expect(describeAuditEntry({ action: 'client_revoked', detail: 'was approved; ended 2 session(s)' }, 'Pixel')).toBe('Revoked Pixel (ended 2 sessions)');
    expect(describeAuditEntry({ action: 'client_rejected', detail: 'was pending' }, null)).toBe('Rejected a client');
    expect(describeAuditEntry({ action: 'client_requested', detail: null }, 'Chrome on Linux')).toBe('Chrome on Linux asked to connect');
  });

  it('shows an unknown action rather than hiding it', () => {
    expect(describeAuditEntry({ action: 'something_new', detail: 'x' }, null)).toBe('something new: x');
  });
});

describe('aggregated drops', () => {
  it('reads the count of an aggregated drop entry', () => {
    expect(describeAuditEntry({ action: 'pending_evicted', detail: 'dropped 12 pending client(s), over the cap of 100 pending clients; last at x; e.g. a, b' }, null)).toBe(
      '12 pending requests were dropped (too many pending requests)',
    );
    expect(describeAuditEntry({ action: 'pending_expired', detail: 'dropped 3 pending client(s), untouched for 24 h; last at x; e.g. a' }, null)).toBe('3 pending requests expired after 24 hours');
    expect(describeAuditEntry({ action: 'pending_evicted', detail: 'dropped 1 pending client(s), over the cap; last at x; e.g. a' }, 'Laptop')).toBe(
      'The request of Laptop was dropped (too many pending requests)',
    );
  });
});

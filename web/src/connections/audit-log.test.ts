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

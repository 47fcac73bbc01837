import { createHash } from 'node:crypto';
import type { ConnectClient } from '../../../shared/contracts';
import { verificationCodeFromDigest } from '../../../shared/verification-code';
import type { ConnectClientRow } from '../db/schema';

export function verificationCodeOf(thumbprint: string): string {
  return verificationCodeFromDigest(createHash('sha256').update(thumbprint, 'ascii').digest());
}

/** The public view of a client row: `revokedAt` and `version` never leave the server. */
export function toConnectClient(row: ConnectClientRow): ConnectClient {
  return {
    clientProofKeyThumbprint: row.clientProofKeyThumbprint,
    accountId: row.accountId,
    deviceId: row.deviceId,
    status: row.status,
    client: { label: row.label, deviceType: row.deviceType, os: row.os },
    verificationCode: verificationCodeOf(row.clientProofKeyThumbprint),
    firstRequestedAt: row.firstRequestedAt,
    requestedAt: row.requestedAt,
    requestCount: row.requestCount,
    updatedAt: row.updatedAt,
    approvedAt: row.approvedAt,
    rejectedAt: row.rejectedAt,
    lastSeenAt: row.lastSeenAt,
  };
}

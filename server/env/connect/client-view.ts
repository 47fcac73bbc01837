import { createHash } from 'node:crypto';
import type { ConnectClient } from '../../../shared/contracts';
import { verificationCodeFromDigest } from '../../../shared/verification-code';
import type { ConnectClientRow } from '../db/schema';

const CODE_CACHE_SIZE = 20_000;
/** Codes by thumbprint: every list, snapshot and event would hash each code again. */
const codes = new Map<string, string>();

export function verificationCodeOf(thumbprint: string): string {
  let code = codes.get(thumbprint);
  if (code === undefined) {
    code = verificationCodeFromDigest(createHash('sha256').update(thumbprint, 'ascii').digest());
    if (codes.size >= CODE_CACHE_SIZE) codes.delete(codes.keys().next().value!);
    codes.set(thumbprint, code);
  }
  return code;
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

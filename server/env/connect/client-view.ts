import { createHash } from 'node:crypto';
import { DEVICE_ID_MAX, LABEL_MAX, normalizeClientText, OS_MAX, type ConnectClient } from '../../../shared/contracts';
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

/** Rows stored before S56 may hold invisible characters: every view shows the normal form. */
const shown = (text: string | null, max: number): string | null => (text === null ? null : normalizeClientText(text, max) || null);

/** The public view of a client row: `revokedAt` and `version` never leave the server. */
export function toConnectClient(row: ConnectClientRow): ConnectClient {
  return {
    clientProofKeyThumbprint: row.clientProofKeyThumbprint,
    accountId: row.accountId,
    deviceId: shown(row.deviceId, DEVICE_ID_MAX),
    status: row.status,
    client: { label: shown(row.label, LABEL_MAX), deviceType: row.deviceType, os: shown(row.os, OS_MAX) },
    verificationCode: verificationCodeOf(row.clientProofKeyThumbprint),
    firstRequestedAt: row.firstRequestedAt,
    requestedAt: row.requestedAt,
    requestCount: row.requestCount,
    updatedAt: row.updatedAt,
    approvedAt: row.approvedAt,
    rejectedAt: row.rejectedAt,
    lastSeenAt: row.lastSeenAt,
    name: row.name === null ? null : normalizeClientText(row.name, LABEL_MAX) || null,
    approvalExpiresAt: row.approvalExpiresAt,
    approvalExpiredAt: row.approvalExpiredAt,
    approver: row.approver,
  };
}

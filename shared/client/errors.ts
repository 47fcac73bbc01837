// How the client runtime reports why it could not connect (SPEC §3 "Client errors").
export type BlockedReason = 'permission' | 'authentication' | 'configuration' | 'unsupported';

export const PENDING_DETAIL = 'Waiting for this client to be approved in the environment settings.';
export const NEW_DEVICES_PAUSED_DETAIL = 'This environment is not accepting new devices right now.';
export const REJECTED_DETAIL = 'This client was rejected by the environment. Approve it in the environment settings to connect.';

export class ConnectionBlockedError extends Error {
  readonly reason: BlockedReason;
  readonly approvalStatus: 'pending' | 'rejected' | undefined;
  readonly detail: string;
  /** For a pending answer without wait: when to ask again. */
  readonly retryAfterSeconds: number | undefined;

  constructor(init: { reason: BlockedReason; detail: string; approvalStatus?: 'pending' | 'rejected'; retryAfterSeconds?: number }) {
    super(init.detail);
    this.name = 'ConnectionBlockedError';
    this.reason = init.reason;
    this.detail = init.detail;
    this.approvalStatus = init.approvalStatus;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

/** A failure that is not a decision about this client: network, relay or environment trouble. */
export class ConnectFailedError extends Error {
  constructor(
    message: string,
    readonly reason: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ConnectFailedError';
  }
}

// Stable error reasons carried in error data (tRPC `data.reason`) and plain-endpoint bodies.
export const errorReasons = [
  'not_found',
  'invalid_input',
  'unauthenticated',
  'forbidden',
  'conflict',
  'security_mode_unreadable',
  'request_replayed',
  'invalid_request',
  'invalid_dpop_proof',
  'invalid_token',
  'invalid_grant',
  'environment_link_not_found',
  'environment_link_conflict',
  'endpoint_request_failed',
  'endpoint_timed_out',
  'endpoint_response_invalid',
  'not_linked',
  'rate_limited',
  'internal',
] as const;
export type ErrorReason = (typeof errorReasons)[number];

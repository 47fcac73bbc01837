// The approval lifetimes the page and the CLI offer (SPEC §13), without zod so the web bundle stays small.
export const APPROVAL_LIFETIMES = [
  { label: '1 hour', short: '1h', seconds: 3600 },
  { label: '8 hours', short: '8h', seconds: 8 * 3600 },
  { label: '24 hours', short: '24h', seconds: 86_400 },
  { label: '7 days', short: '7d', seconds: 7 * 86_400 },
  { label: '30 days', short: '30d', seconds: 30 * 86_400 },
] as const;
export const MAX_APPROVAL_SECONDS = 30 * 86_400;
/** An approver device may approve for at most this long, and must say how long (S59). */
export const MAX_APPROVER_APPROVAL_SECONDS = 7 * 86_400;

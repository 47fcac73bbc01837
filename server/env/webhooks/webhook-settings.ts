/** What webhooks need beyond the database (SPEC §14): the sealing key from outside it, and the address policy. */
export interface WebhookSettings {
  /** Seals the signing secrets (S61); kept in a 0600 file in the data directory. */
  sealKey: Buffer;
  /** `--allow-private-webhooks`: private, loopback and link-local targets allowed. */
  allowPrivate: boolean;
  /** The environment's own origin, for links in the messages. */
  publicUrl: () => string;
  /** Each attempt's time bound; default 10 s. */
  timeoutMs?: number;
  /** Wakes the dispatcher after a commit that queued deliveries. */
  kick?: () => void;
}

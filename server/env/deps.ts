import type { TunnelStatus } from '../../shared/contracts';
import type { Clock } from '../common/clock';
import type { SecurityLog } from '../common/security-log';
import type { EnvDb } from './db/database';
import type { AccessBus } from './events/access-bus';
import type { WebhookSettings } from './webhooks/webhook-settings';

/** What every environment service takes: tests pass their own. */
export interface EnvDeps {
  db: EnvDb;
  bus: AccessBus;
  clock: Clock;
  /** What the environment's tunnel is doing (SPEC §11); absent where no tunnel runs. */
  tunnelStatus?: () => TunnelStatus;
  /** This environment's own URL (invite links fall back to it when the relay serves no pages for it). */
  publicUrl?: () => string;
  /** Replays and refused proofs (S46); the process-wide console log when absent. */
  securityLog?: SecurityLog;
  /** The webhook sealing key and address policy (SPEC §14); absent where webhooks cannot be managed. */
  webhooks?: WebhookSettings;
  /** The environment's own origin: owner pages, and so passkeys (the WebAuthn RP), live only there. */
  ownOrigin?: () => string;
}

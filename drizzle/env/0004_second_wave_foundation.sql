CREATE TABLE `connect_invites` (
	`invite_id` text PRIMARY KEY NOT NULL,
	`label` text,
	`secret` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`created_by` text NOT NULL,
	`used_at` text,
	`used_by_thumbprint` text,
	`revoked_at` text,
	CONSTRAINT "connect_invites_used_pair" CHECK(("connect_invites"."used_at" IS NULL) = ("connect_invites"."used_by_thumbprint" IS NULL))
);
--> statement-breakpoint
CREATE INDEX `connect_invites_expiry_idx` ON `connect_invites` (`expires_at`);--> statement-breakpoint
CREATE TABLE `owner_passkeys` (
	`credential_id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`public_key` blob NOT NULL,
	`counter` integer NOT NULL,
	`transports` text,
	`device_type` text,
	`backed_up` integer DEFAULT false NOT NULL,
	`aaguid` text,
	`created_at` text NOT NULL,
	`last_used_at` text
);
--> statement-breakpoint
CREATE TABLE `owner_webauthn_challenges` (
	`challenge` text PRIMARY KEY NOT NULL,
	`purpose` text NOT NULL,
	`owner_session_hash` text,
	`expires_at` integer NOT NULL,
	`used_at` integer
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` text NOT NULL,
	`message_id` text NOT NULL,
	`event_type` text NOT NULL,
	`collapse_key` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`last_attempt_at` integer,
	`last_status_code` integer,
	`last_error` text,
	`delivered_at` integer,
	FOREIGN KEY (`webhook_id`) REFERENCES `webhooks`(`webhook_id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "webhook_deliveries_status" CHECK("webhook_deliveries"."status" IN ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_webhook_idx` ON `webhook_deliveries` (`webhook_id`,`id`);--> statement-breakpoint
CREATE TABLE `webhooks` (
	`webhook_id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`format` text NOT NULL,
	`sealed_secret` text NOT NULL,
	`created_at` text NOT NULL,
	CONSTRAINT "webhooks_format" CHECK("webhooks"."format" IN ('json', 'slack', 'discord'))
);
--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`client_proof_key_thumbprint` text,
	`detail` text NOT NULL,
	CONSTRAINT "audit_log_actor" CHECK("actor" IN ('web', 'cli', 'api', 'system', 'invite', 'approver', 'client')),
	CONSTRAINT "audit_log_action" CHECK("action" IN ('security_mode_set', 'client_requested', 'client_approved', 'client_rejected', 'client_revoked', 'client_account_changed', 'pending_expired', 'pending_evicted', 'client_renamed', 'client_sessions_ended', 'approval_expired', 'client_joined_with_invite', 'invite_created', 'invite_revoked', 'lockdown_set', 'client_key_rotated', 'approver_set', 'passkey_registered', 'passkey_renamed', 'passkey_removed', 'webhook_created', 'webhook_removed', 'owner_signed_out')),
	CONSTRAINT "audit_log_detail_object" CHECK(json_valid("__new_audit_log"."detail") AND json_type("__new_audit_log"."detail") = 'object')
);
--> statement-breakpoint
INSERT INTO `__new_audit_log`("id", "at", "actor", "action", "client_proof_key_thumbprint", "detail") SELECT "id", "at", "actor", "action", "client_proof_key_thumbprint", "detail" FROM `audit_log`;--> statement-breakpoint
DROP TABLE `audit_log`;--> statement-breakpoint
ALTER TABLE `__new_audit_log` RENAME TO `audit_log`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `audit_log_thumbprint_idx` ON `audit_log` (`client_proof_key_thumbprint`,`id`);--> statement-breakpoint
CREATE TABLE `__new_connect_clients` (
	`client_proof_key_thumbprint` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`device_id` text,
	`status` text NOT NULL,
	`label` text,
	`os` text,
	`device_type` text DEFAULT 'unknown' NOT NULL,
	`first_requested_at` text NOT NULL,
	`requested_at` text NOT NULL,
	`request_count` integer NOT NULL,
	`updated_at` text NOT NULL,
	`approved_at` text,
	`rejected_at` text,
	`revoked_at` text,
	`last_seen_at` text,
	`version` integer DEFAULT 0 NOT NULL,
	`name` text,
	`approval_expires_at` text,
	`approver` integer DEFAULT false NOT NULL,
	`last_source` text,
	`software` text,
	`invite_id` text,
	CONSTRAINT "connect_clients_status" CHECK("__new_connect_clients"."status" IN ('pending', 'approved', 'rejected')),
	CONSTRAINT "connect_clients_device_type" CHECK("__new_connect_clients"."device_type" IN ('desktop', 'mobile', 'tablet', 'bot', 'unknown')),
	CONSTRAINT "connect_clients_one_decision" CHECK("__new_connect_clients"."approved_at" IS NULL OR "__new_connect_clients"."rejected_at" IS NULL),
	CONSTRAINT "connect_clients_approved_matches" CHECK(("__new_connect_clients"."status" = 'approved') = ("__new_connect_clients"."approved_at" IS NOT NULL)),
	CONSTRAINT "connect_clients_rejected_matches" CHECK(("__new_connect_clients"."status" = 'rejected') = ("__new_connect_clients"."rejected_at" IS NOT NULL)),
	CONSTRAINT "connect_clients_seen_only_approved" CHECK("__new_connect_clients"."last_seen_at" IS NULL OR "__new_connect_clients"."status" = 'approved'),
	CONSTRAINT "connect_clients_revoked_inert" CHECK("__new_connect_clients"."revoked_at" IS NULL OR "__new_connect_clients"."status" = 'pending'),
	CONSTRAINT "connect_clients_request_count" CHECK("__new_connect_clients"."request_count" >= 0),
	CONSTRAINT "connect_clients_expiry_only_approved" CHECK("__new_connect_clients"."approval_expires_at" IS NULL OR "__new_connect_clients"."status" = 'approved'),
	CONSTRAINT "connect_clients_approver_only_approved" CHECK("__new_connect_clients"."approver" = 0 OR "__new_connect_clients"."status" = 'approved')
);
--> statement-breakpoint
INSERT INTO `__new_connect_clients`("client_proof_key_thumbprint", "account_id", "device_id", "status", "label", "os", "device_type", "first_requested_at", "requested_at", "request_count", "updated_at", "approved_at", "rejected_at", "revoked_at", "last_seen_at", "version") SELECT "client_proof_key_thumbprint", "account_id", "device_id", "status", "label", "os", "device_type", "first_requested_at", "requested_at", "request_count", "updated_at", "approved_at", "rejected_at", "revoked_at", "last_seen_at", "version" FROM `connect_clients`;--> statement-breakpoint
DROP TABLE `connect_clients`;--> statement-breakpoint
ALTER TABLE `__new_connect_clients` RENAME TO `connect_clients`;--> statement-breakpoint
CREATE INDEX `connect_clients_status_idx` ON `connect_clients` (`status`,`revoked_at`);--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
ALTER TABLE `connect_settings` ADD `lockdown_until` text;--> statement-breakpoint
ALTER TABLE `owner_sessions` ADD `verified_at` integer;
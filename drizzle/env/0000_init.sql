CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`client_proof_key_thumbprint` text,
	`detail` text,
	CONSTRAINT "audit_log_actor" CHECK("audit_log"."actor" IN ('web', 'cli', 'api', 'system'))
);
--> statement-breakpoint
CREATE TABLE `client_sessions` (
	`token_hash` text PRIMARY KEY NOT NULL,
	`client_proof_key_thumbprint` text NOT NULL,
	`account_id` text NOT NULL,
	`scopes` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`ended_at` integer
);
--> statement-breakpoint
CREATE INDEX `client_sessions_thumbprint_idx` ON `client_sessions` (`client_proof_key_thumbprint`);--> statement-breakpoint
CREATE TABLE `connect_clients` (
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
	CONSTRAINT "connect_clients_status" CHECK("connect_clients"."status" IN ('pending', 'approved', 'rejected')),
	CONSTRAINT "connect_clients_device_type" CHECK("connect_clients"."device_type" IN ('desktop', 'mobile', 'tablet', 'bot', 'unknown')),
	CONSTRAINT "connect_clients_one_decision" CHECK("connect_clients"."approved_at" IS NULL OR "connect_clients"."rejected_at" IS NULL),
	CONSTRAINT "connect_clients_approved_matches" CHECK(("connect_clients"."status" = 'approved') = ("connect_clients"."approved_at" IS NOT NULL)),
	CONSTRAINT "connect_clients_rejected_matches" CHECK(("connect_clients"."status" = 'rejected') = ("connect_clients"."rejected_at" IS NOT NULL)),
	CONSTRAINT "connect_clients_seen_only_approved" CHECK("connect_clients"."last_seen_at" IS NULL OR "connect_clients"."status" = 'approved'),
	CONSTRAINT "connect_clients_revoked_inert" CHECK("connect_clients"."revoked_at" IS NULL OR "connect_clients"."status" = 'pending'),
	CONSTRAINT "connect_clients_request_count" CHECK("connect_clients"."request_count" >= 0)
);
--> statement-breakpoint
CREATE INDEX `connect_clients_status_idx` ON `connect_clients` (`status`,`revoked_at`);--> statement-breakpoint
CREATE TABLE `connect_credentials` (
	`credential_hash` text PRIMARY KEY NOT NULL,
	`client_proof_key_thumbprint` text NOT NULL,
	`account_id` text NOT NULL,
	`security_mode` text NOT NULL,
	`client_version` integer,
	`issued_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`redeemed_at` integer,
	CONSTRAINT "connect_credentials_mode" CHECK("connect_credentials"."security_mode" IN ('account', 'client-approval'))
);
--> statement-breakpoint
CREATE INDEX `connect_credentials_thumbprint_idx` ON `connect_credentials` (`client_proof_key_thumbprint`);--> statement-breakpoint
CREATE TABLE `connect_settings` (
	`id` integer PRIMARY KEY NOT NULL,
	`security_mode` text NOT NULL,
	`updated_at` text NOT NULL,
	CONSTRAINT "connect_settings_single_row" CHECK("connect_settings"."id" = 1),
	CONSTRAINT "connect_settings_mode" CHECK("connect_settings"."security_mode" IN ('account', 'client-approval'))
);
--> statement-breakpoint
CREATE TABLE `environment` (
	`id` integer PRIMARY KEY NOT NULL,
	`environment_id` text NOT NULL,
	`created_at` text NOT NULL,
	CONSTRAINT "environment_single_row" CHECK("environment"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE `owner_login_codes` (
	`code_hash` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer
);
--> statement-breakpoint
CREATE TABLE `owner_sessions` (
	`token_hash` text PRIMARY KEY NOT NULL,
	`scopes` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `relay_link` (
	`id` integer PRIMARY KEY NOT NULL,
	`relay_url` text NOT NULL,
	`relay_issuer` text NOT NULL,
	`relay_public_key` text NOT NULL,
	`account_id` text NOT NULL,
	`linked_at` text NOT NULL,
	CONSTRAINT "relay_link_single_row" CHECK("relay_link"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE `replay_markers` (
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`kind`, `key`)
);
--> statement-breakpoint
CREATE INDEX `replay_markers_expiry_idx` ON `replay_markers` (`expires_at`);
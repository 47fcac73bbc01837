CREATE TABLE `relay_links` (
	`environment_id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`environment_public_key` text NOT NULL,
	`endpoint` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
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
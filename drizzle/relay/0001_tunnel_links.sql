PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_relay_links` (
	`environment_id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`environment_public_key` text NOT NULL,
	`endpoint` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_relay_links`("environment_id", "account_id", "environment_public_key", "endpoint", "created_at", "updated_at") SELECT "environment_id", "account_id", "environment_public_key", "endpoint", "created_at", "updated_at" FROM `relay_links`;--> statement-breakpoint
DROP TABLE `relay_links`;--> statement-breakpoint
ALTER TABLE `__new_relay_links` RENAME TO `relay_links`;--> statement-breakpoint
PRAGMA foreign_keys=ON;
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`client_proof_key_thumbprint` text,
	`detail` text NOT NULL,
	CONSTRAINT "audit_log_actor" CHECK("__new_audit_log"."actor" IN ('web', 'cli', 'api', 'system')),
	CONSTRAINT "audit_log_action" CHECK("action" IN ('security_mode_set', 'client_requested', 'client_approved', 'client_rejected', 'client_revoked', 'client_account_changed', 'pending_expired', 'pending_evicted')),
	CONSTRAINT "audit_log_detail_object" CHECK(json_valid("__new_audit_log"."detail") AND json_type("__new_audit_log"."detail") = 'object')
);
--> statement-breakpoint
INSERT INTO `__new_audit_log`("id", "at", "actor", "action", "client_proof_key_thumbprint", "detail") SELECT "id", "at", "actor", "action", "client_proof_key_thumbprint", "detail" FROM `audit_log`;--> statement-breakpoint
DROP TABLE `audit_log`;--> statement-breakpoint
ALTER TABLE `__new_audit_log` RENAME TO `audit_log`;--> statement-breakpoint
PRAGMA foreign_keys=ON;
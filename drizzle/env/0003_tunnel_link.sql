ALTER TABLE `relay_link` ADD `routed_endpoint` text;--> statement-breakpoint
ALTER TABLE `relay_link` ADD `device_origin` text;
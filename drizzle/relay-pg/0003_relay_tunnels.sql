CREATE TABLE "relay_tunnels" (
	"environment_id" text PRIMARY KEY NOT NULL,
	"instance_id" text NOT NULL,
	"internal_url" text NOT NULL,
	"lease_expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "relay_tunnels_instance_idx" ON "relay_tunnels" USING btree ("instance_id");
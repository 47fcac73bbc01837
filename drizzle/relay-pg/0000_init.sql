CREATE TABLE "relay_links" (
	"environment_id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"environment_public_key" jsonb NOT NULL,
	"endpoint" text NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "replay_markers" (
	"kind" text NOT NULL,
	"key" text NOT NULL,
	"expires_at" bigint NOT NULL,
	CONSTRAINT "replay_markers_kind_key_pk" PRIMARY KEY("kind","key")
);
--> statement-breakpoint
CREATE INDEX "replay_markers_expiry_idx" ON "replay_markers" USING btree ("expires_at");
CREATE TABLE "relay_identity" (
	"id" text PRIMARY KEY NOT NULL,
	"public_key" jsonb NOT NULL,
	"public_url" text NOT NULL,
	"created_at" bigint NOT NULL
);

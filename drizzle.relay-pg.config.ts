import { defineConfig } from 'drizzle-kit';

// The relay's PostgreSQL store (`gatehouse relay start --database-url postgres://…`).
export default defineConfig({
  dialect: 'postgresql',
  schema: './server/relay/db/pg-schema.ts',
  out: './drizzle/relay-pg',
});

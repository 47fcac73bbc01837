import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './server/relay/db/schema.ts',
  out: './drizzle/relay',
});

import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './server/env/db/schema.ts',
  out: './drizzle/env',
});

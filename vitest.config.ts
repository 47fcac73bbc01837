import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['server/**/*.test.ts', 'shared/**/*.test.ts', 'web/**/*.test.{ts,tsx}'],
    exclude: ['node_modules/**', 'dist/**', 'e2e/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real servers and real SQLite files: two cores, so keep the parallelism honest.
    maxWorkers: 2,
    // PostgreSQL for the relay's shared-database tests: GATEHOUSE_TEST_DATABASE_URL, or a throwaway cluster (.ci/postgres.sh).
    globalSetup: ['server/testing/postgres.ts'],
  },
});

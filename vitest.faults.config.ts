import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): whole systems as real processes, broken on purpose.
 * Files run one at a time, each with its own system, namespace and database.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/faults/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
  },
});

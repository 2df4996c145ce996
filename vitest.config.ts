import { defineConfig } from 'vitest/config';

// Root-only namespace tests share the kernel; run files one at a time so two labs
// never race for CPU in a way that turns into flaky timeouts on a 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
    globalSetup: ['test/global-setup.ts'],
  },
});

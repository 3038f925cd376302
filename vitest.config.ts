import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql-js for everyone: Vite would pick graphql's ESM build for our
    // code while Node gives libraries (Pothos, Yoga) the CommonJS one, and
    // graphql-js refuses types from "another realm".
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most files wait on Postgres, SMTP sinks and child processes, not the CPU:
    // two at a time even on 2 cores (vitest's default there is one).
    maxWorkers: Math.max(2, availableParallelism()),
    // Files share a worker's module graph instead of importing it again each
    // time (about a third of the suite's time); each file has its own database.
    isolate: false,
  },
});

// A runtime per test file: the file's database, a job queue (no workers unless
// asked), mail and clock as the file chooses. Stopped after the file.
import { afterAll } from 'vitest';
import { createRuntime, type RuntimeConfig, type RuntimeOptions } from '../../src/runtime.js';
import { useTestDatabase, type TestDatabaseOptions } from './database.js';

export interface TestRuntimeOptions extends TestDatabaseOptions {
  /** Settings of the file's runtime (mail, concurrency). */
  config?: Partial<RuntimeConfig>;
  /** Its clock and workers (default: no workers: only inserting jobs). */
  runtime?: RuntimeOptions;
}

export async function useTestRuntime(options: TestRuntimeOptions = {}) {
  const { config, runtime: runtimeOptions, ...clientOptions } = options;
  const database = await useTestDatabase(clientOptions);
  const runtime = createRuntime({ DATABASE_URL: database.url, ...config }, { db: database.prisma, workers: false, schedule: false, ...runtimeOptions });
  await runtime.start();
  afterAll(() => runtime.stop({ graceful: false, timeout: 1000 }));
  return { ...database, runtime };
}

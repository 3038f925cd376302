// How the benchmarks start Stepwise's engine, in one place: the engine's shape
// (how workers fetch, how the mail transport is held) changes, and only this file
// should have to follow it.
import type { PrismaClient } from '../src/generated/prisma/client.js';
import { createRuntime, type Runtime } from '../src/runtime.js';

export interface BenchEngine {
  runtime: Runtime;
  stop(): Promise<void>;
}

/**
 * A runtime on the bench database: the job queue (always: the API enqueues in its
 * transactions) and, with `workers`, the step workers; mail to `smtpUrl`, or to
 * the outbox without it.
 */
export async function startEngine(database: { url: string; prisma: PrismaClient }, options: { workers?: number; smtpUrl?: string }): Promise<BenchEngine> {
  const runtime = createRuntime(
    { DATABASE_URL: database.url, SMTP_URL: options.smtpUrl, MAIL_FROM: 'Stepwise Bench <bench@stepwise.local>', WORKER_CONCURRENCY: options.workers },
    { db: database.prisma, workers: options.workers ? {} : false, schedule: false },
  );
  await runtime.start();
  return {
    runtime,
    // In-flight hand-offs are recorded before the queue goes.
    stop: () => runtime.stop({ graceful: true, timeout: 2_000 }),
  };
}

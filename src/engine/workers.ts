// Registers the job handlers. Each handler validates its job's data, then calls
// the engine; pg-boss retries what throws (with backoff) up to the queue's limit.
import type PgBoss from 'pg-boss';
import { finishReplyPause } from './lifecycle.js';
import { configureOutbox } from './outbox.js';
import { startStepLoops } from './step-worker.js';
import { generateSequence } from './generate-sequence.js';
import { sweepInactivity } from './inactivity.js';
import {
  QUEUES,
  generateSequenceJobSchema,
  pauseTimeoutJobSchema,
  releaseQueuedJobSchema,
} from './queues.js';
import { releaseQueued } from './release-queued.js';

export interface WorkerOptions {
  /** Emails handed to the relay at once by this process (and not yet recorded). */
  concurrency: number;
  /** Step jobs fetched per batch (default 200). */
  batchSize?: number;
  /** Batches claimed at once (default 2). */
  fetchers?: number;
  pollingIntervalSeconds?: number;
}

export async function startWorkers(instance: PgBoss, options: WorkerOptions): Promise<void> {
  const polling = { pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5 };
  startStepLoops(instance, {
    batchSize: options.batchSize ?? 200,
    fetchers: options.fetchers ?? 2,
    pollMs: Math.min(250, (options.pollingIntervalSeconds ?? 0.5) * 1000),
    outbox: configureOutbox(options.concurrency),
  });
  await instance.work(QUEUES.pauseTimeout, polling, async ([job]) => {
    if (!job) return;
    const data = pauseTimeoutJobSchema.parse(job.data);
    await finishReplyPause(data.enrollmentId, new Date(data.pausedUntil));
  });
  await instance.work(QUEUES.releaseQueued, polling, async ([job]) => {
    if (!job) return;
    await releaseQueued(releaseQueuedJobSchema.parse(job.data).sequenceId);
  });
  await instance.work(QUEUES.inactivitySweep, polling, async () => {
    await sweepInactivity();
  });
  await workGenerateSequence(instance, polling);
  // Day roll-over for daily throttles, and inactivity, are found by schedules.
  await instance.schedule(QUEUES.releaseQueued, '*/5 * * * *', {});
  await instance.schedule(QUEUES.inactivitySweep, '*/15 * * * *', {});
}

/** Drafts of sequences created from a goal, one at a time per process (they wait on a model). */
export async function workGenerateSequence(instance: PgBoss, options: { pollingIntervalSeconds?: number } = {}) {
  return instance.work(
    QUEUES.generateSequence,
    { pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5, includeMetadata: true },
    async ([job]) => {
      if (!job) return;
      const data = generateSequenceJobSchema.parse(job.data);
      await generateSequence(data, { finalAttempt: job.retryCount >= job.retryLimit });
    },
  );
}

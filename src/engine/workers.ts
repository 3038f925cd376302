// Registers the job handlers. Each handler validates its job's data, then calls
// the engine; pg-boss retries what throws (with backoff) up to the queue's limit.
import type PgBoss from 'pg-boss';
import { finishReplyPause } from '../services/runs.js';
import { executeStep } from './execute-step.js';
import { generateSequence } from './generate-sequence.js';
import { sweepInactivity } from './inactivity.js';
import {
  QUEUES,
  generateSequenceJobSchema,
  pauseTimeoutJobSchema,
  releaseQueuedJobSchema,
  stepJobSchema,
} from './queues.js';
import { releaseQueued } from './release-queued.js';

export interface WorkerOptions {
  /** Step jobs worked at once by this process. */
  concurrency: number;
  pollingIntervalSeconds?: number;
}

export async function startWorkers(instance: PgBoss, options: WorkerOptions): Promise<void> {
  const polling = { pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5 };
  for (let i = 0; i < options.concurrency; i++) {
    let workerId: string | undefined;
    workerId = await instance.work(QUEUES.step, { ...polling, batchSize: 1, includeMetadata: true }, async ([job]) => {
      if (!job) return;
      const data = stepJobSchema.parse(job.data);
      await executeStep(data, { finalAttempt: job.retryCount >= job.retryLimit });
      // pg-boss waits out the polling interval after every fetch, even one that found
      // a job, which would cap each worker at two steps a second: fetch again at once.
      if (workerId) instance.notifyWorker(workerId);
    });
  }
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

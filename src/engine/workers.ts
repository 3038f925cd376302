// Registers the job handlers. Each handler validates its job's data, then calls
// the engine; pg-boss retries what throws (with backoff) up to the queue's limit.
import { retryWhileDatabaseAway } from '../db/database-away.js';
import type { EngineContext } from './context.js';
import { finishReplyPause } from './lifecycle.js';
import type { Outbox } from './outbox.js';
import { startStepLoops, type StopLoops } from './step-worker.js';
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
  /** Step jobs fetched per batch at most (default 200; fewer when the outbox has less room). */
  batchSize?: number;
  /** Batches claimed at once (default 2). */
  fetchers?: number;
  pollingIntervalSeconds?: number;
  /** The database the step loops LISTEN on to wake when step jobs are inserted. */
  listenUrl?: string;
  /** How often the step loops look for jobs that fell due without a NOTIFY (default: 250 ms at most). */
  stepPollMs?: number;
  /** The least time between two fetches a NOTIFY wakes, so that jobs inserted meanwhile share one (default 25 ms; step-worker.ts). */
  stepGatherMs?: number;
}

/**
 * Starts the workers on `ctx`'s queue; the returned function stops the step loops
 * and (graceful, the default) waits for their hand-offs (call it before stopping the queue).
 */
export async function startWorkers(ctx: EngineContext & { outbox: Outbox }, options: WorkerOptions = {}): Promise<StopLoops> {
  const instance = ctx.boss;
  const polling = { pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5 };
  let releaseWorker: string | undefined;
  const stopSteps = startStepLoops(ctx, {
    batchSize: options.batchSize ?? 200,
    fetchers: options.fetchers ?? 2,
    pollMs: options.stepPollMs ?? Math.min(250, (options.pollingIntervalSeconds ?? 0.5) * 1000),
    gatherMs: options.stepGatherMs ?? 25,
    outbox: ctx.outbox,
    listenUrl: options.listenUrl,
    // A release job inserted now (throttles relaxed, capacity freed) is fetched at once, not at the next poll.
    releaseInserted: () => releaseWorker && instance.notifyWorker(releaseWorker),
  });
  await instance.work(QUEUES.pauseTimeout, polling, async ([job]) => {
    if (!job) return;
    const data = pauseTimeoutJobSchema.parse(job.data);
    await untilDone(ctx, () => finishReplyPause(ctx, data.enrollmentId, new Date(data.pausedUntil)));
  });
  releaseWorker = await instance.work(QUEUES.releaseQueued, polling, async ([job]) => {
    if (!job) return;
    const { sequenceId } = releaseQueuedJobSchema.parse(job.data);
    await untilDone(ctx, () => releaseQueued(ctx, sequenceId));
  });
  await instance.work(QUEUES.inactivitySweep, polling, async () => {
    await untilDone(ctx, () => sweepInactivity(ctx));
  });
  await workGenerateSequence(ctx, polling);
  // Day roll-over for daily throttles, and inactivity, are found by schedules.
  await instance.schedule(QUEUES.releaseQueued, '*/5 * * * *', {});
  await instance.schedule(QUEUES.inactivitySweep, '*/15 * * * *', {});
  return stopSteps;
}

/**
 * Runs waiting on these jobs move on within moments of a database restart: a
 * handler that lost the database runs again once it is back (the handlers only
 * act on what the runs' state still allows, so a second run of one is harmless).
 */
const untilDone = (ctx: EngineContext, work: () => Promise<unknown>) => retryWhileDatabaseAway(() => ctx.db.$queryRaw`SELECT 1`, work);

/** Drafts of sequences created from a goal, one at a time per process (they wait on a model). */
export async function workGenerateSequence(ctx: EngineContext, options: { pollingIntervalSeconds?: number } = {}) {
  return ctx.boss.work(
    QUEUES.generateSequence,
    { pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5, includeMetadata: true },
    async ([job]) => {
      if (!job) return;
      const data = generateSequenceJobSchema.parse(job.data);
      await generateSequence(ctx, data, { finalAttempt: job.retryCount >= job.retryLimit });
    },
  );
}

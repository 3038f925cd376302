// The step workers: a few loops per process, each fetching due step jobs inside
// one transaction, claiming them (step-batch.ts), completing the jobs that are
// done and committing; the claimed hand-offs then go to the outbox. A fetch takes
// at most `batchSize` jobs and no more than the outbox has room for (its
// `reserve`: what the relay gets through soon), so due work waits in pg-boss, in
// due order, rather than claimed behind a backlog in this process. A crash before
// the commit rolls the fetch back, so the jobs are free again at once (no expiry
// wait). pg-boss's own work() sleeps after every fetch, even a full one; this
// loop fetches again at once when the batch was full, and after a short one
// waits for the NOTIFY that step jobs due now were inserted (boss.ts), polling
// only for jobs that fall due later (delays, retries).
import { PREPARED_ROWS, transaction, useGenericPlans } from '../db/transaction.js';
import { listen } from '../db/listener.js';
import { RELEASE_PAYLOAD, STEP_JOBS_CHANNEL, enqueue, failJobs, fetchJobs } from './boss.js';
import type { EngineContext } from './context.js';
import type { Outbox } from './outbox.js';
import { QUEUES, stepJobSchema } from './queues.js';
import { claimSteps, type DueStep, type Handoff } from './step-batch.js';
import { storeCompiledEmails } from './compiled-emails.js';

/** How long a due step whose run another transaction held waits before it comes round again. */
export const BUSY_RETRY_MS = 1000;

export interface StepLoopOptions {
  /** Jobs fetched per transaction, at most. */
  batchSize: number;
  /** Fetch loops per process (batches being claimed at once). */
  fetchers: number;
  /** Wait after a fetch that found less than a full batch, unless woken by a NOTIFY. */
  pollMs: number;
  /**
   * The least time between the starts of two of this process's fetches that a
   * NOTIFY woke: jobs inserted meanwhile join the next fetch (0: fetch at once).
   */
  gatherMs: number;
  outbox: Outbox;
  /** The database to LISTEN on for inserted step jobs (without it, the loops only poll). */
  listenUrl?: string;
  /** Called when release jobs due now were inserted (the same channel's RELEASE_PAYLOAD). */
  releaseInserted?: () => void;
}

export type StopLoops = (options?: { graceful?: boolean }) => Promise<void>;

/** Starts the loops; the returned function stops them and (graceful, the default) waits for their hand-offs. */
export function startStepLoops(ctx: EngineContext, options: StepLoopOptions): StopLoops {
  let stopped = false;
  let stop = () => {};
  const stopping = new Promise<void>((resolve) => (stop = resolve));
  const { outbox } = options;
  // A NOTIFY (or a reconnection, after which one may have been missed) needs one
  // fetch that starts after it, not one per loop: every process hears every
  // NOTIFY, and waking all loops for each trackEvent's job made most fetches
  // empty transactions (14 per job fetched in the load test). So a NOTIFY wakes
  // one idle loop, or, when none is idle, leaves `missed` for the next loop to
  // finish its fetch; a full batch wakes another loop to share what is left.
  let missed = false;
  const waiting: (() => void)[] = [];
  const wakeOne = () => waiting.shift()?.();
  // A loop waiting to gather (below) fetches after this NOTIFY anyway: no other loop is woken for it.
  let gathering = false;
  const wake = () => {
    missed = true;
    if (!gathering) wakeOne();
  };
  let lastFetch = -Infinity;
  const idle = () =>
    missed || stopped
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            const at = waiting.indexOf(done);
            if (at >= 0) waiting.splice(at, 1);
            resolve();
          };
          const timer = setTimeout(done, options.pollMs);
          waiting.push(done);
        });
  const listener = options.listenUrl
    ? listen(options.listenUrl, STEP_JOBS_CHANNEL, {
        notified: (payload) => (payload === RELEASE_PAYLOAD ? options.releaseInserted?.() : wake()),
        connected: wake,
        error: (error) => console.error('step jobs LISTEN', error),
      })
    : undefined;
  const loop = async () => {
    let full = false;
    while (!stopped) {
      // Under a stream of small inserts (a trackEvent each), fetching at every
      // NOTIFY made batches of one or two jobs, each paying a fetch, a claim, a
      // record and their commits; waiting until gatherMs after the last fetch
      // lets them share one. Not after a full batch: the backlog is already there.
      const wait = full ? 0 : lastFetch + options.gatherMs - performance.now();
      if (wait > 0 && !gathering) {
        gathering = true;
        await Promise.race([new Promise((resolve) => setTimeout(resolve, wait)), stopping]);
        gathering = false;
      }
      const room = outbox.reserve(options.batchSize);
      if (!room) {
        await Promise.race([outbox.roomFreed(), stopping]);
        continue;
      }
      // This fetch sees every job whose NOTIFY came before it starts.
      missed = false;
      let fetched = 0;
      const started = (lastFetch = performance.now());
      try {
        fetched = await claimBatch(ctx, { batchSize: room, outbox });
      } catch (error) {
        console.error('step batch failed', error);
      } finally {
        // Only full claims time one: a short one ends early for want of jobs.
        outbox.unreserve(room, fetched === room ? performance.now() - started : undefined);
      }
      full = fetched === room;
      if (full) wakeOne();
      else await idle();
    }
  };
  const loops = Array.from({ length: options.fetchers }, loop);
  return async ({ graceful = true } = {}) => {
    stopped = true;
    stop();
    for (const resolve of waiting.splice(0)) resolve();
    // Stopping loops need no wake-ups: the LISTEN connection closes first, so it is
    // closed when a stop that does not wait for the loops (graceful: false) resolves.
    await listener?.stop();
    if (!graceful) return;
    await Promise.all(loops);
    await outbox.drained();
  };
}

/** One batch: fetch, claim, complete, commit; then hand off. Returns the jobs fetched. */
export async function claimBatch(ctx: EngineContext, options: Pick<StepLoopOptions, 'batchSize' | 'outbox'>): Promise<number> {
  let handoffs: Handoff[] = [];
  const fetched = await transaction(
    ctx,
    async (tx) => {
      // Each job's attempts come with it (the last one fails the run).
      const jobs = await fetchJobs(tx, QUEUES.step, options.batchSize);
      if (!jobs.length) return 0;
      // A few jobs (a steady stream): the claim's statements are prepared then, and
      // planned once; Postgres planned them again at every call (about a fifth of
      // its time on them in the load test), the plan costing more than the run.
      if (jobs.length <= PREPARED_ROWS) useGenericPlans(tx);
      const items: DueStep[] = [];
      const invalid: string[] = [];
      for (const job of jobs) {
        const data = stepJobSchema.safeParse(job.data);
        if (data.success) items.push({ jobId: job.id, ...data.data, finalAttempt: job.retryCount >= job.retryLimit });
        else invalid.push(job.id);
      }
      await failJobs(ctx, tx, QUEUES.step, invalid, { message: 'invalid step job data' });
      // The jobs it finishes complete in its statements; those with a hand-off stay active until it is recorded.
      const claimed = await claimSteps(ctx, tx, items, { skipLocked: true, complete: QUEUES.step });
      // Runs another transaction holds: the same step comes round again shortly.
      const retryAt = new Date(ctx.clock.now().getTime() + BUSY_RETRY_MS);
      await enqueue(
        ctx,
        tx,
        claimed.busy.map((i) => ({ name: QUEUES.step, data: { enrollmentId: i.enrollmentId, stepId: i.stepId }, startAfter: retryAt })),
      );
      handoffs = claimed.handoffs;
      return jobs.length;
    },
    // Lean: its statements all go around Prisma, whose interactive transaction (about 0.3 ms of
    // CPU each) would be most of an empty fetch's cost; it joins only if a Prisma call is made.
    { timeout: 120_000, maxWait: 30_000, lean: true },
  );
  for (const handoff of handoffs) options.outbox.send(ctx, handoff);
  // Shapes this claim compiled (rarely: most are stored when their sequence went live).
  await storeCompiledEmails(ctx);
  return fetched;
}

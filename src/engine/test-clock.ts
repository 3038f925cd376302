// Test clocks: a test workspace's time stands still (its frozen time) until
// advanceTestClock moves it. An advance runs, in due order, everything that
// falls due up to its target, through the engine the workers use, on a virtual
// clock set to each moment in turn: the workspace's held jobs (test-jobs.ts:
// steps, reply-pause ends, releases of queued runs), the day roll-overs that
// free daily throttles, and the moments subscribers become inactive. Then the
// clock is READY at the target.
//
// One process works an advance at a time: it holds a lease on the workspace row
// (the database's clock, renewed at each moment). A second advance while one
// runs extends its target. After a crash the clock stays ADVANCING with its
// target; once the lease has lapsed (30 s), the next advanceTestClock call takes
// the advance over and resumes from the last moment worked (every piece of work
// is idempotent: a step already recorded is not sent again).
import { randomUUID } from 'node:crypto';
import type { Db, Tx } from '../db/client.js';
import { notifyOnCommit, transaction } from '../db/transaction.js';
import { UserError } from '../domain/errors.js';
import { dayStart } from '../domain/run-machine/start.js';
import type { EngineContext } from './context.js';
import { nextInactivityAt, sweepInactivity } from './inactivity.js';
import { finishReplyPause } from './lifecycle.js';
import { QUEUES, pauseTimeoutJobSchema, releaseQueuedJobSchema, stepJobSchema } from './queues.js';
import { releaseQueued } from './release-queued.js';
import { CHANGES_CHANNEL } from './run-status.js';
import { handOver } from './outbox.js';
import { claimSteps, recordRefused, recordSent, runDiscount, type DueStep, type EmailHandoff, type Handoff } from './step-batch.js';

export type TestClockStatus = 'READY' | 'ADVANCING';

export interface TestClockState {
  frozenTime: Date;
  status: TestClockStatus;
  /** While ADVANCING: the time it is advancing to. */
  advancingTo: Date | null;
}

const DAY = 86_400_000;
/** Jobs worked per moment (one step batch, as a worker claims). */
const BATCH = 200;
/** Tries of a step whose provider fails (pg-boss's retryLimit for steps). */
const MAX_ATTEMPTS = 6;
/** Emails handed over at once. */
const HANDOVERS = 8;

/** The key the change notifier wakes testClockChanged subscribers of a workspace by (NOTIFY payload). */
export const testClockTopic = (workspaceId: string) => `testclock:${workspaceId}`;

interface ClockRow {
  time: Date | null;
  status: TestClockStatus | null;
  target: Date | null;
  twin: boolean;
}

const toState = (row: ClockRow): TestClockState | null =>
  row.twin && row.time && row.status ? { frozenTime: row.time, status: row.status, advancingTo: row.status === 'ADVANCING' ? row.target : null } : null;

/** The workspace's test clock, or null for a live workspace. */
export async function readTestClock(db: Db, workspaceId: string): Promise<TestClockState | null> {
  const [row] = await db.$queryRaw<ClockRow[]>`
    SELECT "testClockTime" AS time, "testClockStatus"::text AS status, "testClockTarget" AS target, "liveWorkspaceId" IS NOT NULL AS twin
    FROM "Workspace" WHERE id = ${workspaceId}::uuid`;
  return row ? toState(row) : null;
}

/**
 * Asks for the clock to reach the target `targetOf` gives for its state (read
 * under the workspace row's lock, so concurrent calls see each other): starts an
 * advance, extends a running one to a later target, or does nothing when the
 * clock is (or is going) there already. Refuses a target before the frozen time.
 */
export async function requestAdvance(ctx: EngineContext, workspaceId: string, targetOf: (clock: TestClockState) => Date, field: string[]): Promise<TestClockState> {
  return transaction(ctx, async (tx) => {
    const [row] = await tx.$queryRaw<ClockRow[]>`
      SELECT "testClockTime" AS time, "testClockStatus"::text AS status, "testClockTarget" AS target, "liveWorkspaceId" IS NOT NULL AS twin
      FROM "Workspace" WHERE id = ${workspaceId}::uuid FOR UPDATE`;
    const state = row && toState(row);
    if (!state) throw new Error(`workspace ${workspaceId} has no test clock`); // callers check the key first
    const target = targetOf(state);
    if (target < state.frozenTime) {
      throw new UserError(`A test clock only moves forward: it is at ${state.frozenTime.toISOString()}`, field, 'CLOCK_BACKWARDS');
    }
    const goal = state.advancingTo && state.advancingTo > target ? state.advancingTo : target;
    if (goal.getTime() === (state.advancingTo ?? state.frozenTime).getTime()) return state;
    await tx.$executeRaw`
      UPDATE "Workspace" SET "testClockStatus" = 'ADVANCING', "testClockTarget" = ${goal} WHERE id = ${workspaceId}::uuid`;
    notifyTestClock(tx, workspaceId);
    return { ...state, status: 'ADVANCING', advancingTo: goal };
  });
}

function notifyTestClock(tx: Tx, workspaceId: string) {
  notifyOnCommit(tx, CHANGES_CHANNEL, testClockTopic(workspaceId));
}

const running = new Map<string, Promise<void>>();
let stopRequested = false;

/**
 * Before the queue (and then the database) stop (src/runtime.ts): finish the
 * moment being worked, give the leases back.
 */
export async function stopAdvances(): Promise<void> {
  stopRequested = true;
  await Promise.allSettled(running.values());
  stopRequested = false;
}

/**
 * Works the workspace's advance here unless another process holds it. Resolves
 * when this process is done with it: the clock READY, the advance held elsewhere,
 * or this process stopping (the lease is given back, so another takes over).
 */
export function driveAdvance(ctx: EngineContext, workspaceId: string): Promise<void> {
  const current = running.get(workspaceId);
  if (current) return current;
  const work = advance(ctx, workspaceId)
    // A fault (the database away) leaves the clock ADVANCING with its lease given back: the next call resumes it.
    .catch((error: unknown) => console.error(`test clock advance of workspace ${workspaceId} stopped`, error))
    .finally(() => running.delete(workspaceId));
  running.set(workspaceId, work);
  return work;
}

async function advance(ctx: EngineContext, workspaceId: string): Promise<void> {
  const runner = randomUUID();
  const taken = await ctx.db.$executeRaw`
    UPDATE "Workspace" SET "testClockRunner" = ${runner}::uuid, "testClockLeaseUntil" = now() + interval '30 seconds'
    WHERE id = ${workspaceId}::uuid AND "testClockStatus" = 'ADVANCING'
      AND ("testClockRunner" IS NULL OR "testClockLeaseUntil" < now())`;
  if (!taken) return;
  let lastSweep = new Date(0);
  try {
    for (;;) {
      if (stopRequested) return;
      const [row] = await ctx.db.$queryRaw<{ time: Date; target: Date }[]>`
        UPDATE "Workspace" SET "testClockLeaseUntil" = now() + interval '30 seconds'
        WHERE id = ${workspaceId}::uuid AND "testClockRunner" = ${runner}::uuid
        RETURNING "testClockTime" AS time, "testClockTarget" AS target`;
      if (!row) return; // the lease lapsed and another process took over
      const next = await nextMoment(ctx.db, workspaceId, row.time, lastSweep);
      if (!next || next.at > row.target) {
        if (await finish(ctx, workspaceId, runner, row.target)) return;
        continue; // the target moved on meanwhile
      }
      const at = next.at < row.time ? row.time : next.at;
      // The engine runs this moment on the virtual clock: its context's clock says `at`.
      const virtual: EngineContext = { ...ctx, clock: { now: () => new Date(at) } };
      if (next.dayRoll) await releaseWorkspace(virtual, workspaceId);
      if (next.jobs) await workJobs(virtual, workspaceId, at);
      if (next.inactivity) {
        await sweepInactivity(virtual, { workspaceId });
        lastSweep = at;
      }
      await ctx.db.$executeRaw`
        UPDATE "Workspace" SET "testClockTime" = ${at} WHERE id = ${workspaceId}::uuid AND "testClockRunner" = ${runner}::uuid`;
    }
  } finally {
    await ctx.db.$executeRaw`
      UPDATE "Workspace" SET "testClockRunner" = NULL, "testClockLeaseUntil" = NULL
      WHERE id = ${workspaceId}::uuid AND "testClockRunner" = ${runner}::uuid`.catch(() => {});
  }
}

/** READY at the target, unless the target was extended meanwhile (then false: keep going). */
async function finish(ctx: EngineContext, workspaceId: string, runner: string, target: Date): Promise<boolean> {
  return transaction(ctx, async (tx) => {
    const done = await tx.$executeRaw`
      UPDATE "Workspace" SET "testClockTime" = ${target}, "testClockStatus" = 'READY', "testClockTarget" = NULL,
        "testClockRunner" = NULL, "testClockLeaseUntil" = NULL
      WHERE id = ${workspaceId}::uuid AND "testClockRunner" = ${runner}::uuid AND "testClockTarget" = ${target}`;
    if (done) notifyTestClock(tx, workspaceId);
    return done > 0;
  });
}

interface Moment {
  at: Date;
  jobs: boolean;
  dayRoll: boolean;
  inactivity: boolean;
}

/** The next moment something falls due after `from` (held jobs due earlier count as due at `from`). */
async function nextMoment(db: Db, workspaceId: string, from: Date, lastSweep: Date): Promise<Moment | null> {
  const [row] = await db.$queryRaw<{ job: Date | null; queued: boolean }[]>`
    SELECT (SELECT min("dueAt") FROM "TestClockJob" WHERE "workspaceId" = ${workspaceId}::uuid) AS job,
      EXISTS (SELECT 1 FROM "Enrollment" WHERE "workspaceId" = ${workspaceId}::uuid AND status = 'QUEUED') AS queued`;
  const job = row?.job ? (row.job < from ? from : row.job) : null;
  // Daily throttles count runs begun since midnight UTC: queued runs may start at the next one.
  const dayRoll = row?.queued ? new Date(dayStart(from).getTime() + DAY) : null;
  const inactive = await nextInactivityAt(db, workspaceId, lastSweep > from ? lastSweep : from);
  const inactivity = inactive && inactive < from ? from : inactive;
  const times = [job, dayRoll, inactivity].filter((t): t is Date => t !== null);
  if (!times.length) return null;
  const at = new Date(Math.min(...times.map((t) => t.getTime())));
  const same = (t: Date | null) => t !== null && t.getTime() === at.getTime();
  return { at, jobs: same(job), dayRoll: same(dayRoll), inactivity: same(inactivity) };
}

/** A day rolled over: every sequence of the workspace with queued runs may start some. */
async function releaseWorkspace(ctx: EngineContext, workspaceId: string): Promise<void> {
  const sequences = await ctx.db.enrollment.findMany({ where: { workspaceId, status: 'QUEUED' }, distinct: ['sequenceId'], select: { sequenceId: true } });
  for (const { sequenceId } of sequences) await releaseQueued(ctx, sequenceId);
}

interface HeldJob {
  id: string;
  name: string;
  data: unknown;
  attempts: number;
}

/** Works the held jobs due at `at` (the clock's now), in due order: steps in batches as the workers claim them. */
async function workJobs(ctx: EngineContext, workspaceId: string, at: Date): Promise<void> {
  for (;;) {
    const jobs = await ctx.db.$queryRaw<HeldJob[]>`
      SELECT id::text, name, data, attempts FROM "TestClockJob"
      WHERE "workspaceId" = ${workspaceId}::uuid AND "dueAt" <= ${at}
      ORDER BY "dueAt", id LIMIT ${BATCH}`;
    if (!jobs.length) return;
    let steps: HeldJob[] = [];
    for (const job of jobs) {
      if (job.name === QUEUES.step) {
        steps.push(job);
        continue;
      }
      await workSteps(ctx, steps, at);
      steps = [];
      await workOther(ctx, job);
    }
    await workSteps(ctx, steps, at);
  }
}

async function workOther(ctx: EngineContext, job: HeldJob): Promise<void> {
  if (job.name === QUEUES.pauseTimeout) {
    const data = pauseTimeoutJobSchema.parse(job.data);
    await finishReplyPause(ctx, data.enrollmentId, new Date(data.pausedUntil));
  } else if (job.name === QUEUES.releaseQueued) {
    const { sequenceId } = releaseQueuedJobSchema.parse(job.data);
    if (sequenceId) await releaseQueued(ctx, sequenceId);
  }
  await deleteJobs(ctx.db, [job.id]);
}

async function deleteJobs(db: Db, ids: string[]): Promise<void> {
  if (ids.length) await db.$executeRaw`DELETE FROM "TestClockJob" WHERE id = ANY(${ids}::uuid[])`;
}

/**
 * One step batch, as a worker works it (step-worker.ts): claimed in a
 * transaction, then handed over at the one hand-off point (a test workspace's
 * mail is captured there) and recorded SENT, all at the virtual time.
 */
async function workSteps(ctx: EngineContext, jobs: HeldJob[], at: Date): Promise<void> {
  if (!jobs.length) return;
  const items: DueStep[] = [];
  const invalid: string[] = [];
  for (const job of jobs) {
    const data = stepJobSchema.safeParse(job.data);
    if (data.success) items.push({ jobId: job.id, ...data.data, finalAttempt: job.attempts + 1 >= MAX_ATTEMPTS });
    else invalid.push(job.id);
  }
  await deleteJobs(ctx.db, invalid);
  let handoffs: Handoff[] = [];
  await transaction(
    ctx,
    async (tx) => {
      const claimed = await claimSteps(ctx, tx, items, { skipLocked: false });
      // A second step of a run in one batch (busy) keeps its job: the next round takes it.
      const keep = new Set([...claimed.handoffs, ...claimed.busy.map((item) => ({ item }))].map((h) => h.item.jobId));
      const done = items.filter((i) => !keep.has(i.jobId)).map((i) => i.jobId!);
      if (done.length) await tx.$executeRaw`DELETE FROM "TestClockJob" WHERE id = ANY(${done}::uuid[])`;
      handoffs = claimed.handoffs;
    },
    { timeout: 120_000, maxWait: 30_000 },
  );
  const sent: EmailHandoff[] = [];
  const retry: Handoff[] = [];
  // Handed over HANDOVERS at a time, as the outbox's slots do (capturing waits on the database, not the CPU).
  let next = 0;
  const handOff = async () => {
    for (let handoff = handoffs[next++]; handoff; handoff = handoffs[next++]) {
      if (handoff.kind === 'discount') {
        if ((await runDiscount(ctx, handoff)).retry) retry.push(handoff);
        else await deleteJobs(ctx.db, [handoff.item.jobId!]);
        continue;
      }
      try {
        await handOver(ctx, handoff.ref.workspaceId, handoff.mail);
        sent.push(handoff);
      } catch (error) {
        // Only a test relay (TEST_SMTP_URL) can refuse: as a worker's, the claim is undone and tried again, or the step fails.
        if (await recordRefused(ctx, handoff, error)) retry.push(handoff);
        else await deleteJobs(ctx.db, [handoff.item.jobId!]);
      }
    }
  };
  await Promise.all(Array.from({ length: HANDOVERS }, handOff));
  await recordSent(ctx, sent);
  await deleteJobs(ctx.db, sent.map((h) => h.item.jobId!));
  for (const handoff of retry) {
    // Backoff as pg-boss's (retryDelay 5 s, doubling), on the test clock.
    const job = jobs.find((j) => j.id === handoff.item.jobId)!;
    await ctx.db.$executeRaw`
      UPDATE "TestClockJob" SET attempts = attempts + 1, "dueAt" = ${new Date(at.getTime() + 5_000 * 2 ** job.attempts)}
      WHERE id = ${job.id}::uuid`;
  }
}

/** Resolves with the state once the clock is READY, or after `ms` (then it may still be ADVANCING). */
export async function advanceFor(ctx: EngineContext, workspaceId: string, ms: number): Promise<TestClockState | null> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([driveAdvance(ctx, workspaceId), waited]);
  clearTimeout(timer);
  return readTestClock(ctx.db, workspaceId);
}

// pg-boss in the same Postgres. Jobs are inserted through the caller's Prisma
// transaction, so a job exists exactly when the state change that needs it commits.
import PgBoss from 'pg-boss';
import { connectionTracker, type Tx } from '../db/client.js';
import { txQueryText } from '../db/transaction.js';
import { Prisma } from '../generated/prisma/client.js';
import type { EngineContext } from './context.js';
import { QUEUE_OPTIONS, QUEUES } from './queues.js';
import { holdTestJobs } from './test-jobs.js';

const connectionsOf = new WeakMap<PgBoss, ReturnType<typeof connectionTracker>>();

/** The queue, not started yet (src/runtime.ts starts it, and stops it with stopBoss). */
export function createBoss(connectionString: string, options: { schedule?: boolean; supervise?: boolean } = {}): PgBoss {
  const connections = connectionTracker();
  const instance = new PgBoss({
    connectionString,
    max: 4,
    schedule: options.schedule ?? true,
    supervise: options.supervise ?? true,
    // Jobs of a worker that died come back once they expire; look for them every 30 s.
    maintenanceIntervalSeconds: 30,
    // Handed on to pg-boss's pool (pg-pool's hook for each new connection).
    onConnect: connections.add,
  } as PgBoss.ConstructorOptions);
  connectionsOf.set(instance, connections);
  instance.on('error', (error) => console.error('pg-boss', error));
  return instance;
}

/** Stops the queue; resolves once its connections are closed, not just asked to close (connectionTracker). */
export async function stopBoss(instance: PgBoss, options: PgBoss.StopOptions): Promise<void> {
  await instance.stop(options);
  await connectionsOf.get(instance)?.closed();
}

/** Starts the queue and makes sure every Stepwise queue exists. */
export async function startBoss(instance: PgBoss): Promise<PgBoss> {
  await instance.start();
  for (const name of Object.values(QUEUES)) {
    // Retries with backoff: a step that fails (SMTP down) is tried again, then failed for good.
    await instance.createQueue(name, {
      name,
      retryLimit: 5,
      retryDelay: 5,
      retryBackoff: true,
      expireInSeconds: 120,
      ...QUEUE_OPTIONS[name],
    });
  }
  await instance.getDb().executeSql(STEP_JOBS_TRIGGER, []);
  return instance;
}

/** NOTIFYed (on commit) when step jobs due now were inserted: it wakes the step loops (step-worker.ts). */
export const STEP_JOBS_CHANNEL = 'stepwise_step_jobs';
/**
 * The payload on that channel when release jobs due now were inserted: their worker
 * fetches at once rather than at its next poll (relaxed throttles start sending sooner).
 */
export const RELEASE_PAYLOAD = 'release';

// pg-boss has no wake-up of its own, and jobs are inserted from several paths
// (run starts in their INSERT statement, enqueue, pg-boss's own retries), so one
// statement trigger on its job table announces them all. Installed at each start
// (pg-boss creates its schema itself), under a lock so processes starting together
// do not race on the catalog.
const STEP_JOBS_TRIGGER = `
DO $do$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('${STEP_JOBS_CHANNEL}'));
  CREATE OR REPLACE FUNCTION pgboss.stepwise_step_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE name = '${QUEUES.step}' AND start_after <= now()) THEN
      PERFORM pg_notify('${STEP_JOBS_CHANNEL}', '');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows WHERE name = '${QUEUES.releaseQueued}' AND start_after <= now()) THEN
      PERFORM pg_notify('${STEP_JOBS_CHANNEL}', '${RELEASE_PAYLOAD}');
    END IF;
    RETURN NULL;
  END $fn$;
  CREATE OR REPLACE TRIGGER stepwise_step_jobs_inserted AFTER INSERT ON pgboss.job
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pgboss.stepwise_step_jobs_inserted();
END $do$`;

const toParam = (v: unknown) =>
  v === undefined
    ? null
    : v instanceof Date
      ? v.toISOString()
      : Array.isArray(v) // id lists (complete, fail) bind as Postgres arrays
        ? v
        : typeof v === 'object' && v !== null
          ? JSON.stringify(v)
          : v;

/**
 * pg-boss's SQL, run in the transaction on its connection around Prisma (as
 * txQuery sends statements), each text prepared once per connection: pg-boss
 * writes a few fixed texts (fetch, complete, fail), their values bound.
 */
export function txDb(tx: Tx): PgBoss.Db {
  return {
    executeSql: async (text, values) => ({ rows: await txQueryText<unknown>(tx, text, values.map(toParam), { prepared: true }) }),
  };
}

export interface JobToSend {
  name: string;
  data: object;
  startAfter?: Date;
  /** The run's or sequence's workspace, when known (a test workspace's jobs wait for its test clock). */
  workspaceId?: string;
}

/**
 * Inserts jobs inside `tx`: they run only if the transaction commits. A test
 * workspace's jobs wait for its test clock instead (test-jobs.ts). `startAfter`
 * is engine time (the clock); the queue runs on the database's clock, so it is
 * given the wait from now (an interval after the database's now()), not the instant.
 */
export async function enqueue(ctx: Pick<EngineContext, 'boss' | 'clock'>, tx: Tx, all: JobToSend[]): Promise<void> {
  const insert = await jobsInsert(ctx, tx, all);
  if (insert) await tx.$executeRaw(insert);
}

/**
 * What enqueue() does, for a writer to run as a data-modifying CTE of its own
 * statement (the jobs ride with the rows that need them, one round trip for
 * both): test workspaces' jobs are held (written here), and pg-boss's own INSERT
 * of the others (its SQL and values, as `insert` would run them) is returned,
 * or null when none is left.
 */
export async function jobsInsert(ctx: Pick<EngineContext, 'boss' | 'clock'>, tx: Tx, all: JobToSend[]): Promise<Prisma.Sql | null> {
  if (!all.length) return null;
  const jobs = await holdTestJobs(tx, all, ctx.clock.now());
  if (!jobs.length) return null;
  const at = ctx.clock.now().getTime();
  let captured: Prisma.Sql | undefined;
  const capture: PgBoss.Db = {
    executeSql: async (text, values) => {
      // $n placeholders (each used once) become the bound values of a Prisma.Sql.
      const parts = text.split(/\$(\d+)/);
      const strings = parts.filter((_, i) => i % 2 === 0);
      const bound = parts.filter((_, i) => i % 2 === 1).map((n) => toParam(values[Number(n) - 1]));
      captured = new Prisma.Sql(strings, bound);
      return { rows: [] };
    },
  };
  await ctx.boss.insert(
    jobs.map((j) => ({
      name: j.name,
      data: j.data,
      startAfter: j.startAfter ? `${Math.max(0, (j.startAfter.getTime() - at) / 1000)} seconds` : undefined,
    })),
    { db: capture },
  );
  if (!captured) throw new Error('pg-boss insert ran no SQL');
  return captured;
}

// pg-boss 10's complete/fail take (name, ids, data, options) in code, whatever its
// typings say: `options` in third place would be taken for data and run outside
// the transaction. These helpers always pass the transaction as the fourth.
type JobCommand = (name: string, ids: string[], data: object | null, options: { db: PgBoss.Db }) => Promise<unknown>;

/** Completes jobs inside `tx`. */
export async function completeJobs(ctx: Pick<EngineContext, 'boss'>, tx: Tx, name: string, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await (ctx.boss.complete.bind(ctx.boss) as unknown as JobCommand)(name, ids, null, { db: txDb(tx) });
}

/**
 * pg-boss's complete (plans.js completeJobs: active jobs of `name` to completed,
 * no output) as SQL for a writer to run as a data-modifying CTE of its own
 * statement: the jobs finish with the rows they record, one round trip for both.
 */
export function completeJobsSql(name: string, ids: readonly string[]): Prisma.Sql {
  return Prisma.sql`UPDATE pgboss.job SET completed_on = now(), state = 'completed', output = NULL
    WHERE name = ${name} AND id = ANY(${ids}::uuid[]) AND state = 'active' RETURNING 1`;
}

/** Fails jobs inside `tx` (pg-boss retries them with backoff while attempts remain). */
export async function failJobs(ctx: Pick<EngineContext, 'boss'>, tx: Tx, name: string, ids: string[], data: object): Promise<void> {
  if (!ids.length) return;
  await (ctx.boss.fail.bind(ctx.boss) as unknown as JobCommand)(name, ids, data, { db: txDb(tx) });
}

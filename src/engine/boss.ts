// pg-boss in the same Postgres. Jobs are inserted through the caller's Prisma
// transaction, so a job exists exactly when the state change that needs it commits.
import PgBoss from 'pg-boss';
import { connectionTracker, type Tx } from '../db/client.js';
import { notifyOnCommit, txQueryText } from '../db/transaction.js';
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
  await instance.getDb().executeSql(DROP_STEP_JOBS_TRIGGER, []);
  return instance;
}

/** NOTIFYed after the commit when step jobs due now were inserted: it wakes the step loops (step-worker.ts). */
export const STEP_JOBS_CHANNEL = 'stepwise_step_jobs';
/**
 * The payload on that channel when release jobs due now were inserted: their worker
 * fetches at once rather than at its next poll (relaxed throttles start sending sooner).
 */
export const RELEASE_PAYLOAD = 'release';

// pg-boss has no wake-up of its own: jobsInsert, the one place Stepwise inserts
// jobs, NOTIFYs after the commit (src/db/notifier.ts). pg-boss's own retries fall
// due later and are found by the loops' poll. Earlier versions NOTIFYed from a
// trigger on the job table, inside every inserting transaction: it is dropped at
// each start (under a lock, so processes starting together do not race on the catalog).
const DROP_STEP_JOBS_TRIGGER = `
DO $do$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('${STEP_JOBS_CHANNEL}'));
  DROP TRIGGER IF EXISTS stepwise_step_jobs_inserted ON pgboss.job;
  DROP FUNCTION IF EXISTS pgboss.stepwise_step_jobs_inserted();
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
 * writes a few fixed texts (complete, fail), their values bound.
 */
function txDb(tx: Tx): PgBoss.Db {
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
 * both): test workspaces' jobs are held (written here), and an INSERT of the
 * others is returned, or null when none is left.
 *
 * The INSERT is pg-boss 10's insertJobs (plans.js) for jobs that carry only a
 * name, data and a start: the same columns from the same queue settings and
 * instance defaults (captured from pg-boss's own call, once), but its rows are
 * unnested arrays instead of a JSON document read by json_to_recordset with an
 * interval parsed from text per job, and without its ON CONFLICT DO NOTHING
 * (speculative insertion: a second index probe and WAL record per job), which
 * can only fire for singleton keys or the short/singleton/stately policies our
 * queues use neither of (startBoss). About 40 % less of Postgres' time per
 * job in a 500-run start.
 */
export async function jobsInsert(ctx: Pick<EngineContext, 'boss' | 'clock'>, tx: Tx, all: JobToSend[]): Promise<Prisma.Sql | null> {
  if (!all.length) return null;
  const jobs = await holdTestJobs(tx, all, ctx.clock.now());
  if (!jobs.length) return null;
  const at = ctx.clock.now().getTime();
  const d = await bossDefaults(ctx.boss);
  const due = (name: string) => jobs.some((j) => j.name === name && (!j.startAfter || j.startAfter.getTime() <= at));
  if (due(QUEUES.step)) notifyOnCommit(tx, STEP_JOBS_CHANNEL, '');
  if (due(QUEUES.releaseQueued)) notifyOnCommit(tx, STEP_JOBS_CHANNEL, RELEASE_PAYLOAD);
  return Prisma.sql`
    INSERT INTO pgboss.job (id, name, data, start_after, dead_letter, expire_in, keep_until, retry_limit, retry_delay, retry_backoff, policy)
    SELECT gen_random_uuid(), q.name, j.data, j.start_after, q.dead_letter,
      CASE
        WHEN q.expire_seconds IS NOT NULL THEN q.expire_seconds * interval '1s'
        WHEN ${d.expireIn}::text IS NOT NULL THEN ${d.expireIn}::numeric * interval '1s'
        ELSE interval '15 minutes'
      END,
      j.start_after + CAST(COALESCE((q.retention_minutes * 60)::text, ${d.keepUntil}::text, '14 days') AS interval),
      COALESCE(q.retry_limit, ${d.retryLimit}::int, 2),
      CASE
        WHEN COALESCE(q.retry_backoff, ${d.retryBackoff}::bool, false) THEN GREATEST(COALESCE(q.retry_delay, ${d.retryDelay}::int), 1)
        ELSE COALESCE(q.retry_delay, ${d.retryDelay}::int, 0)
      END,
      COALESCE(q.retry_backoff, ${d.retryBackoff}::bool, false), q.policy
    FROM (
      SELECT u.name, u.data, now() + u.wait * interval '1 second' AS start_after
      FROM ROWS FROM (unnest(${jobs.map((j) => j.name)}::text[]), unnest(${jobs.map((j) => (j.startAfter ? Math.max(0, (j.startAfter.getTime() - at) / 1000) : 0))}::float8[]),
        jsonb_array_elements(${JSON.stringify(jobs.map((j) => j.data))}::jsonb)) AS u(name, wait, data)
    ) j JOIN pgboss.queue q ON q.name = j.name`;
}

interface BossDefaults {
  expireIn: unknown;
  keepUntil: unknown;
  retryLimit: unknown;
  retryDelay: unknown;
  retryBackoff: unknown;
}

const defaultsOf = new WeakMap<PgBoss, Promise<BossDefaults>>();

export interface FetchedJob {
  id: string;
  data: unknown;
  retryCount: number;
  retryLimit: number;
}

/**
 * What pg-boss 10's fetch does for a queue of the standard policy (plans.js
 * fetchNextJob: due jobs locked with SKIP LOCKED, made active, a retry counted),
 * in due order. pg-boss orders by (priority, created_on, id), which its index
 * (name, start_after) cannot give: every fetch read and sorted every due job, so
 * when the relay fell behind and due jobs piled up, each fetch grew slower, and a
 * claim's transaction (which has written by then) held the change feed's horizon
 * for seconds (the load test's changes reached their subscribers 3–40 s late).
 * Ordered by start_after, the index gives the jobs in order and the fetch stops
 * at the batch. Stepwise gives its jobs no priority. The UPDATE finds the batch
 * by id in the primary key (name, id): joined to the CTE, the prepared statement's
 * generic plan read every job the queue keeps (completed ones too) per fetch.
 */
export async function fetchJobs(tx: Tx, name: string, batchSize: number): Promise<FetchedJob[]> {
  return txQueryText<FetchedJob>(
    tx,
    `WITH next AS (
      SELECT id FROM pgboss.job
      WHERE name = $1 AND state < 'active' AND start_after < now()
      ORDER BY start_after
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    )
    UPDATE pgboss.job j SET state = 'active', started_on = now(),
      retry_count = CASE WHEN j.started_on IS NOT NULL THEN j.retry_count + 1 ELSE j.retry_count END
    WHERE j.name = $1 AND j.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING j.id::text AS id, j.data, j.retry_count AS "retryCount", j.retry_limit AS "retryLimit"`,
    [name, batchSize],
    { prepared: true },
  );
}

/** The instance-wide job defaults pg-boss's insert binds as $2…$6 (manager.js insert), read from its own call. */
function bossDefaults(boss: PgBoss): Promise<BossDefaults> {
  let defaults = defaultsOf.get(boss);
  if (!defaults) {
    defaults = (async () => {
      let values: unknown[] | undefined;
      await boss.insert([], { db: { executeSql: async (_text, bound) => ((values = bound), { rows: [] }) } });
      if (!values) throw new Error('pg-boss insert ran no SQL');
      const [, expireIn, keepUntil, retryLimit, retryDelay, retryBackoff] = values.map((v) => v ?? null);
      return { expireIn, keepUntil, retryLimit, retryDelay, retryBackoff };
    })();
    defaultsOf.set(boss, defaults);
  }
  return defaults;
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

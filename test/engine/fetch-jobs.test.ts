// The step loops fetch with their own SQL (boss.ts, fetchJobs) rather than pg-boss's
// fetch(): it must do what pg-boss's does for a standard queue (due jobs only, each
// taken once, made active, a retry counted) in due order, and read only the batch
// through the index however many due jobs wait.
import { expect, it } from 'vitest';
import { transaction } from '../../src/db/transaction.js';
import { fetchJobs } from '../../src/engine/boss.js';
import { explainedStatements, scansOf } from '../helpers/explained.js';
import { useTestRuntime } from '../helpers/runtime.js';

const QUEUE = 'stepwise.step';
const explained = explainedStatements();
// The fetch is a prepared statement: after its fifth run Postgres plans it once,
// without the batch size or the queue's statistics, and keeps that plan.
const { prisma, runtime } = await useTestRuntime({
  ...explained.options,
  settings: { ...explained.options.settings, plan_cache_mode: 'force_generic_plan' },
});

const insert = (marker: string, offsetsMs: number[]) =>
  prisma.$executeRaw`
    INSERT INTO pgboss.job (id, name, data, start_after, retry_limit)
    SELECT gen_random_uuid(), ${QUEUE}, jsonb_build_object('marker', ${marker}::text, 'n', o.n), now() + o.ms * interval '1 ms', 3
    FROM unnest(${offsetsMs}::int[]) WITH ORDINALITY AS o(ms, n)`;
const fetch = (batch: number) => transaction(runtime, (tx) => fetchJobs(tx, QUEUE, batch), { lean: true });
const n = (job: { data: unknown }) => (job.data as { n: number }).n;

it('takes due jobs in due order, each once, and leaves those due later', async () => {
  // n = 1..5: due 30, 10, 50 and 20 s ago, and one an hour from now.
  await insert('order', [-30_000, -10_000, -50_000, -20_000, 3_600_000]);
  // The two due longest (the order of the rows returned is the UPDATE's, not the due order).
  const first = await fetch(2);
  expect(first.map(n).sort()).toEqual([1, 3]);
  // Two fetches at once share out what is left, without overlap.
  const [a, b] = await Promise.all([fetch(1), fetch(1)]);
  expect([...a, ...b].map(n).sort()).toEqual([2, 4]);
  expect(await fetch(10)).toEqual([]);
  const states = await prisma.$queryRaw<{ n: number; state: string; started: boolean; retry_count: number }[]>`
    SELECT (data->>'n')::int AS n, state::text AS state, started_on IS NOT NULL AS started, retry_count FROM pgboss.job
    WHERE data->>'marker' = 'order' ORDER BY 1`;
  expect(states).toEqual([
    { n: 1, state: 'active', started: true, retry_count: 0 },
    { n: 2, state: 'active', started: true, retry_count: 0 },
    { n: 3, state: 'active', started: true, retry_count: 0 },
    { n: 4, state: 'active', started: true, retry_count: 0 },
    { n: 5, state: 'created', started: false, retry_count: 0 },
  ]);
  expect(first[0]).toMatchObject({ retryCount: 0, retryLimit: 3 });
});

it('counts a retry when a job that ran before is fetched again', async () => {
  await insert('retry', [-1_000]);
  const [job] = await fetch(1);
  // As pg-boss's fail() leaves a job to retry: back to `retry`, due now, started before.
  await prisma.$executeRaw`UPDATE pgboss.job SET state = 'retry', start_after = now() - interval '1 s' WHERE id = ${job!.id}::uuid`;
  const [again] = await fetch(1);
  expect(again).toMatchObject({ id: job!.id, retryCount: 1 });
});

it('reads the batch in index order, not every due job, with thousands waiting', async () => {
  await insert('backlog', Array.from({ length: 5_000 }, (_, i) => -100_000 - i));
  await prisma.$executeRaw`ANALYZE pgboss.job`;
  let fetched: unknown[] = [];
  const [plan] = await explained.of('FOR UPDATE SKIP LOCKED', async () => (fetched = await fetch(10)));
  expect(fetched).toHaveLength(10);
  expect(plan, 'the fetch statement was not explained').toBeDefined();
  // The batch read from the index in start_after order: no sort over every due job.
  expect(plan).toMatch(/_i5/);
  expect(plan).not.toMatch(/"Node Type": "Sort"/);
});

it('updates the fetched jobs by id, not by reading every job the queue keeps', async () => {
  // pg-boss keeps completed jobs in the queue's table (until archived); a generic plan
  // that joined the batch to the table on the queue name alone read all of them per
  // job (33,000 buffers, 60 ms, in a 60 s load test).
  await prisma.$executeRaw`
    INSERT INTO pgboss.job (id, name, data, state, start_after, completed_on)
    SELECT gen_random_uuid(), ${QUEUE}, '{}'::jsonb, 'completed', now() - interval '1 hour', now() FROM generate_series(1, 3000)`;
  await insert('kept', [-200_000, -200_001, -200_002]);
  let fetched: unknown[] = [];
  const [plan] = await explained.of('FOR UPDATE SKIP LOCKED', async () => (fetched = await fetch(3)));
  expect(fetched).toHaveLength(3);
  const scans = scansOf(plan!);
  // The partition's pending-jobs index for the batch, its primary key (name, id) by id for the update: nothing else.
  expect(scans.filter((s) => !s.index?.endsWith('_i5')).map((s) => [s.type, s.index?.replace(/^.*_/, ''), /\bid = /.test(s.indexCond ?? '')])).toEqual([
    ['Index Scan', 'pkey', true],
  ]);
  expect(plan).not.toMatch(/"Join Filter"/);
});

// Cancelling 100,000 runs by entry-event value in one call: how long it takes,
// whether the matching uses the GIN index on entryEvent, and whether a step of
// another sequence can lock its run meanwhile.
import os from 'node:os';
import pg from 'pg';
import { Prisma } from '../src/generated/prisma/client.js';
import { cancelEnrollments, fieldValuesMatch } from '../src/services/cancel.js';
import { encodeId } from '../src/domain/public-id.js';
import { backendCpu, cpuSince } from './cpu.js';
import { benchDatabase } from './database.js';
import { startEngine } from './engine-runtime.js';
import { printTable, type Figure } from './report.js';

export async function benchCancel(RUNS: number): Promise<Figure[]> {
  const bench = await benchDatabase();
  const { prisma } = bench;
  const engine = await startEngine(bench, {});
  try {
    const workspace = await prisma.workspace.create({ data: { name: 'bench' } });
    const make = (name: string) =>
      prisma.sequence.create({ data: { workspaceId: workspace.id, slug: name, name, triggerType: 'EVENT_RECEIVED', triggerEventName: 'order', status: 'ACTIVE', enrollmentFieldPath: 'order.id' } });
    const target = await make('target');
    const other = await make('other');
    // Subscribers, then RUNS matching runs in the target sequence and as many non-matching ones.
    // Ids as the engine makes them (UUIDv7, time-ordered: src/domain/tracking-links.ts), one row
    // per millisecond over the last minutes; random ones would scatter every index entry.
    const since = Date.now() - 3 * RUNS;
    const uuidv7 = (ms: Prisma.Sql) =>
      Prisma.sql`encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(${ms}) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid`;
    await prisma.$executeRaw`
      INSERT INTO "Subscriber" (id, "workspaceId", email, "updatedAt")
      SELECT ${uuidv7(Prisma.sql`${since}::bigint + i`)}, ${workspace.id}::uuid, 'bench' || i || '@example.com', now() FROM generate_series(1, ${RUNS}) i`;
    await prisma.$executeRaw`
      INSERT INTO "Enrollment" (id, "workspaceId", "sequenceId", "subscriberId", status, "entryEvent", "updatedAt")
      SELECT ${uuidv7(Prisma.sql`${since + RUNS}::bigint + r.i`)}, r."workspaceId", r.sequence, r.id, 'ACTIVE',
             jsonb_build_object('order', jsonb_build_object('id', CASE WHEN r.sequence = ${target.id}::uuid THEN 'bulk' ELSE 'keep-' || r.email END)),
             now()
      FROM (SELECT s.*, q.id AS sequence, row_number() OVER (ORDER BY s.id, q.n) AS i
            FROM "Subscriber" s CROSS JOIN (VALUES (${target.id}::uuid, 1), (${other.id}::uuid, 2)) AS q(id, n)
            WHERE s."workspaceId" = ${workspace.id}::uuid) r`;
    await prisma.$executeRawUnsafe('ANALYZE "Enrollment"');

    // Matching half the table, a sequential scan is the right plan; for a selective value
    // (one order among all runs) the planner must use the GIN index instead of reading every entry event.
    const plan = await prisma.$queryRaw<{ 'QUERY PLAN': string }[]>`
      EXPLAIN SELECT e.id FROM "Enrollment" e
      WHERE e."sequenceId" = ${other.id}::uuid AND e.status IN ('QUEUED', 'ACTIVE', 'PAUSED')
        AND ${fieldValuesMatch('order.id', ['keep-bench77@example.com'])}`;
    const planText = plan.map((r) => r['QUERY PLAN']).join('\n');

    // While the cancel runs, another sequence's step takes its run's row lock.
    const probeRun = await prisma.enrollment.findFirstOrThrow({ where: { sequenceId: other.id } });
    const probe = new pg.Client({ connectionString: bench.url });
    await probe.connect();
    // The Postgres CPU of the call (its backends, the probe's included: it only waits): steadier than
    // the wall time on a shared machine, where the call's time follows the other work.
    // A checkpoint first: the setup wrote hundreds of MB of WAL, and a checkpoint that began
    // inside the call (its full-page writes with it) swung the figure 2.6–5 s between runs.
    // Best effort: a server where this role may not checkpoint measures as before.
    await prisma.$executeRawUnsafe('CHECKPOINT').catch(() => undefined);
    const pgBefore = await backendCpu(prisma);
    const started = performance.now();
    const cancelling = cancelEnrollments({ workspaceId: workspace.id, runtime: engine.runtime }, { sequenceId: encodeId('Sequence', target.id), fieldValues: ['bulk'], dryRun: false });
    await new Promise((r) => setTimeout(r, 200)); // let the cancel take its locks first
    const lockStart = performance.now();
    await probe.query('BEGIN');
    await probe.query(`SET LOCAL lock_timeout = '5s'`);
    await probe.query('SELECT 1 FROM "Enrollment" WHERE id = $1 FOR UPDATE', [probeRun.id]);
    await probe.query('COMMIT');
    const lockMs = performance.now() - lockStart;
    const result = await cancelling;
    const cancelMs = performance.now() - started;
    const pgSeconds = cpuSince(pgBefore, await backendCpu(prisma));
    await probe.end();
    const stillActive = await prisma.enrollment.count({ where: { sequenceId: other.id, status: 'ACTIVE' } });
    const logged = await prisma.enrollmentChange.count({ where: { sequenceId: target.id, status: 'CANCELLED' } });

    printTable(`cancel: ${RUNS.toLocaleString('en')} runs by entry-event value in one call (${bench.where})`, [
        ['runs cancelled in one call', result.cancelledCount.toLocaleString('en')],
        ['time for the call', `${(cancelMs / 1000).toFixed(2)} s`],
        ['Postgres CPU of the call', `${pgSeconds.toFixed(2)} s`],
        ['load average after', os.loadavg().map((l) => l.toFixed(2)).join(', ')],
        ['changes logged', logged.toLocaleString('en')],
        ['other sequence: row lock taken during the cancel after', `${lockMs.toFixed(0)} ms`],
        ['other sequence runs left untouched', stillActive.toLocaleString('en')],
        ['GIN index on entryEvent used for a selective value', /Enrollment_entryEvent_idx/.test(planText) ? 'yes' : `no\n${planText}`],
      ].map(([measure, value]) => ({ measure: measure!, value: value! })));
    return [
      { name: `cancel by field value, ${RUNS.toLocaleString('en')} runs`, value: cancelMs / 1000, unit: 's', target: { max: 2 } },
      { name: 'cancel: runs cancelled', value: result.cancelledCount, unit: 'runs', target: { min: RUNS } },
    ];
  } finally {
    await engine.stop();
    await bench.close();
  }
}


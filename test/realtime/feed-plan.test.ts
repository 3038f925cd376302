// The change feed reads the log at every wake-up: each read must cost the same at
// 6,000 changes as at 6, whatever ANALYZE has learnt of the log (one workspace's
// rows all alike is what made a generic plan read the whole log for every row).
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { changeFeed } from '../../src/realtime/change-feed.js';
import { explainedStatements, scansOf } from '../helpers/explained.js';
import { useTestRuntime } from '../helpers/runtime.js';

const explained = explainedStatements();
// The read is a prepared statement: Postgres soon runs its generic plan, planned without the values.
const { prisma, runtime } = await useTestRuntime({
  ...explained.options,
  settings: { ...explained.options.settings, plan_cache_mode: 'force_generic_plan' },
});

it('reads the log by its index, and whether changes are held once, with thousands of changes of one workspace analysed', async () => {
  const workspaceId = randomUUID();
  await prisma.$executeRaw`
    INSERT INTO "EnrollmentChange" ("workspaceId", "enrollmentId", "sequenceId", "subscriberId", status)
    SELECT ${workspaceId}::uuid, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'ACTIVE' FROM generate_series(1, 6000)`;
  await prisma.$executeRaw`ANALYZE "EnrollmentChange"`;
  const abort = new AbortController();
  const read: unknown[] = [];
  const plans = await explained.of('"EnrollmentChange"', async () => {
    // From the start of the log: a replay, read a batch at a time.
    for await (const row of changeFeed(runtime.db, { workspaceId }, { position: 0n }, abort.signal)) {
      read.push(row);
      if (read.length === 50) break;
    }
  });
  abort.abort();
  expect(read).toHaveLength(50);
  expect(plans.length).toBeGreaterThan(0);
  const scans = plans.flatMap(scansOf).filter((s) => s.relation === 'EnrollmentChange');
  expect(scans.length).toBeGreaterThan(0);
  // By the index, and none in a subplan (run again for every row read, as the EXISTS beside each row was).
  expect(scans.filter((s) => s.type === 'Seq Scan' || s.inSubPlan)).toEqual([]);
});

// The change feed's horizon against writers committing as it reads: many writers
// append to the log at once (some took their transaction id long before, the
// others take it as they write), and two readers read it as fast as they can,
// each moving on to what its read says is complete. Neither may ever move past a
// change that then commits behind it. Each read's pg_locks copy races the
// writers' commits: a horizon that matched a writer's two locks by their
// virtualtransaction (which a committing backend resets while the rows are
// copied) let dozens of changes a second slip behind the readers here.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { advanceCompleted, readLog } from '../../src/realtime/change-feed.js';
import { useTestRuntime } from '../helpers/runtime.js';

const { prisma, url } = await useTestRuntime();
const WRITERS = 24;
const COMMITS = 150;

const clients: pg.Client[] = [];
afterAll(() => Promise.all(clients.map((c) => c.end())));

it('never moves past a change that commits behind it, with many writers committing as it reads', { timeout: 120_000 }, async () => {
  const workspaceId = randomUUID();
  let writing = true;
  const readers = [0, 1].map(async () => {
    const seen = new Set<bigint>();
    let after = 0n;
    // One more read after the writers are done: it must find everything still missing.
    for (let last = false; !last; ) {
      last = !writing;
      const read = await readLog(prisma, { workspaceId }, after, 5_000);
      for (const row of read.rows) seen.add(row.id);
      if (read.complete > after) after = read.complete;
      if (last && read.held) {
        last = false;
        // Waiting for no writer, only for the next id to complete (these writers send no NOTIFY): the feed's own remedy.
        if (read.stalled) await advanceCompleted(prisma);
      }
    }
    return seen;
  });
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const client = new pg.Client({ connectionString: url });
      clients.push(client);
      await client.connect();
      for (let i = 0; i < COMMITS; i++) {
        await client.query('BEGIN');
        if ((w + i) % 3 === 0) await client.query('SELECT pg_current_xact_id()');
        // The key is the column's default: stepwise_change_key(), as every writer of the log takes it.
        await client.query(
          `INSERT INTO "EnrollmentChange" ("workspaceId", "enrollmentId", "sequenceId", "subscriberId", status)
           SELECT $1::uuid, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'ACTIVE' FROM generate_series(1, 1 + $2::int % 3)`,
          [workspaceId, w + i],
        );
        await client.query('COMMIT');
      }
    }),
  );
  writing = false;
  const logged = await prisma.enrollmentChange.findMany({ where: { workspaceId }, select: { id: true } });
  expect(logged.length).toBeGreaterThan(WRITERS * COMMITS);
  for (const seen of await Promise.all(readers)) {
    expect(logged.filter((c) => !seen.has(c.id)).map((c) => c.id)).toEqual([]);
    expect(seen.size).toBe(logged.length);
  }
});

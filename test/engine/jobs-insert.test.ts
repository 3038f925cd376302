// The engine writes its jobs with its own INSERT into pg-boss's table (boss.ts,
// jobsInsert) rather than through pg-boss's insert(): every column must come out
// as pg-boss's own call writes it, for every queue, or a pg-boss upgrade that
// changes its settings or defaults would go unnoticed.
import { describe, expect, it } from 'vitest';
import { transaction } from '../../src/db/transaction.js';
import { enqueue } from '../../src/engine/boss.js';
import { QUEUES } from '../../src/engine/queues.js';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();

interface JobRow {
  name: string;
  data: unknown;
  state: string;
  priority: number;
  retry_limit: number;
  retry_count: number;
  retry_delay: number;
  retry_backoff: boolean;
  singleton_key: string | null;
  singleton_on: Date | null;
  expire_in: string;
  dead_letter: string | null;
  policy: string | null;
  /** keep_until - start_after, and start_after - created_on, in seconds (rounded): the times relative to the insert. */
  kept_for: number;
  waits: number;
}

const read = (marker: string) =>
  t.prisma.$queryRaw<JobRow[]>`
    SELECT name, data, state::text AS state, priority, retry_limit, retry_count, retry_delay, retry_backoff, singleton_key, singleton_on,
      expire_in::text AS expire_in, dead_letter, policy,
      round(extract(epoch FROM keep_until - start_after))::int AS kept_for, round(extract(epoch FROM start_after - created_on))::int AS waits
    FROM pgboss.job WHERE data->>'marker' = ${marker} ORDER BY name`;

describe('jobsInsert', () => {
  it('writes every column of every queue as pg-boss insert() does, now and later', async () => {
    const queues = Object.values(QUEUES);
    for (const [label, delaySeconds] of [['now', 0], ['later', 3600]] as const) {
      const startAfter = new Date(t.runtime.clock.now().getTime() + delaySeconds * 1000);
      const ours = `ours-${label}`;
      const theirs = `theirs-${label}`;
      await transaction(t.runtime, (tx) =>
        enqueue(t.runtime, tx, queues.map((name) => ({ name, data: { marker: ours, n: 1 }, startAfter: delaySeconds ? startAfter : undefined }))),
      );
      await t.runtime.boss.insert(
        queues.map((name) => ({ name, data: { marker: theirs, n: 1 }, startAfter: delaySeconds ? `${delaySeconds} seconds` : undefined })),
      );
      const mine = await read(ours);
      const reference = await read(theirs);
      expect(mine).toHaveLength(queues.length);
      expect(mine.map((r) => ({ ...r, data: { ...(r.data as object), marker: theirs } }))).toEqual(reference);
    }
  });
});

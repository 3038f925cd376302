// The shared tail wakes a waiting feed only for rows that concern it (its
// subscriber's, or any row for feeds not following one subscriber): under many
// interleaved writers, every feed still gets exactly its changes, in log order,
// including when the tail is smaller than a burst (rows dropped before a wake-up
// looked at them).
import { afterAll, afterEach, expect, it } from 'vitest';
import { transaction } from '../../src/db/transaction.js';
import type { EnrollmentStatus } from '../../src/generated/prisma/client.js';
import { changeFeed, configureChangeFeed, type FeedFilter } from '../../src/realtime/change-feed.js';
import { logRunChanges } from '../../src/engine/run-status.js';
import { setRunStatus } from '../helpers/run-status.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait-for.js';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';

const { prisma, runtime } = await useTestRuntime();
afterEach(() => configureChangeFeed({ tailSize: 5_000 }));
const feeds: AbortController[] = [];
afterAll(() => feeds.forEach((f) => f.abort()));

it.each([5_000, 2])('every feed gets exactly its changes in order, with interleaved writers (tail of %i)', { timeout: 60_000 }, async (tailSize) => {
  configureChangeFeed({ tailSize });
  const { workspaceId } = await createWorkspaceWithKey(prisma, `wake ${tailSize}`);
  const sequences = await Promise.all(
    ['a', 'b'].map((slug) => prisma.sequence.create({ data: { workspaceId, slug, name: slug, triggerType: 'MANUAL', status: 'ACTIVE' } })),
  );
  const subscribers = await Promise.all(
    [0, 1, 2, 3].map((i) => prisma.subscriber.create({ data: { workspaceId, email: `wake${i}@index.test` } })),
  );
  const runs: { id: string; workspaceId: string; sequenceId: string; subscriberId: string; status: EnrollmentStatus }[] = [];
  await transaction(runtime, async (tx) => {
    for (const sequence of sequences) {
      for (const subscriber of subscribers) {
        const run = { workspaceId, sequenceId: sequence.id, subscriberId: subscriber.id };
        const { id } = await tx.enrollment.create({ data: { ...run, status: 'ACTIVE' } });
        runs.push({ ...run, id, status: 'ACTIVE' });
        await logRunChanges(tx, [{ ...run, id, previousStatus: null, status: 'ACTIVE', reason: null, occurredAt: new Date() }]);
      }
    }
  });

  // Keyed feeds (one subscriber, with or without a status) and unkeyed ones (a sequence, a status, everything).
  const filters: FeedFilter[] = [
    ...subscribers.map((s) => ({ workspaceId, subscriberId: s.id })),
    { workspaceId, subscriberId: subscribers[0]!.id, statuses: ['PAUSED'] },
    ...sequences.map((s) => ({ workspaceId, sequenceId: s.id })),
    { workspaceId, statuses: ['PAUSED'] },
    { workspaceId },
  ];
  const received = filters.map((filter) => {
    const rows: string[] = [];
    const abort = new AbortController();
    feeds.push(abort);
    void (async () => {
      for await (const row of changeFeed(runtime.db, filter, { position: 0n }, abort.signal)) rows.push(`${row.enrollmentId}:${row.status}:${row.reason}`);
    })();
    return rows;
  });
  // Every feed has replayed the first changes before the writers start.
  await waitFor(() => received.every((rows, i) => rows.length >= (filters[i]!.statuses ? 0 : filters[i]!.subscriberId ? 2 : filters[i]!.sequenceId ? 4 : 8)));

  // 4 writers, 15 transactions each, each flipping one to three runs (row locks keep each run's changes in order).
  let n = 0;
  await Promise.all(
    [0, 1, 2, 3].map(async (w) => {
      for (let k = 0; k < 15; k++) {
        const picked = [...new Set([0, 1, 2].slice(0, 1 + ((w + k) % 3)).map((j) => runs[(w * 3 + k * 5 + j * 7) % runs.length]!))];
        await transaction(runtime, async (tx) => {
          for (const run of picked.sort((x, y) => x.id.localeCompare(y.id))) {
            const [{ status }] = await tx.$queryRaw<[{ status: EnrollmentStatus }]>`SELECT status::text FROM "Enrollment" WHERE id = ${run.id}::uuid FOR UPDATE`;
            await setRunStatus(tx, { ...run, status }, status === 'ACTIVE' ? 'PAUSED' : 'ACTIVE', `w${w} ${n++}`);
          }
        });
      }
    }),
  );

  const log = await prisma.enrollmentChange.findMany({ where: { workspaceId }, orderBy: [{ xid: 'asc' }, { id: 'asc' }] });
  const expected = filters.map((f) =>
    log
      .filter((c) => (!f.subscriberId || c.subscriberId === f.subscriberId) && (!f.sequenceId || c.sequenceId === f.sequenceId) && (!f.statuses || f.statuses.includes(c.status)))
      .map((c) => `${c.enrollmentId}:${c.status}:${c.reason}`),
  );
  expect(log.length).toBeGreaterThan(runs.length + 60);
  await waitFor(() => received.every((rows, i) => rows.length >= expected[i]!.length), { message: () => `received ${received.map((r) => r.length)} of ${expected.map((e) => e.length)}` });
  received.forEach((rows, i) => expect(rows, JSON.stringify(filters[i])).toEqual(expected[i]));
});

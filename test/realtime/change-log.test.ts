// The change log without a writer lock: many transactions write changes at once
// and commit out of transaction-id order; every reader (live, replay, resumed)
// gets each committed change exactly once, never an aborted one, and each run's
// changes in the order they happened.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { transaction } from '../../src/db/transaction.js';
import type { Tx } from '../../src/db/client.js';
import { Prisma, type EnrollmentStatus } from '../../src/generated/prisma/client.js';
import { changeFeed, changesHeld, configureChangeFeed, decodeCursor, encodeCursor, type FeedRow } from '../../src/realtime/change-feed.js';
import { endRunsWhere } from '../../src/engine/lifecycle.js';
import { logRunChanges } from '../../src/engine/run-status.js';
import { setRunStatus } from '../helpers/run-status.js';
import { useTestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait-for.js';

const t = await useTestApp();
const controller = new AbortController();
afterAll(() => controller.abort());

interface Run {
  id: string;
  workspaceId: string;
  sequenceId: string;
  subscriberId: string;
}

async function makeRuns(workspaceId: string, count: number): Promise<Run[]> {
  const sequence = await t.prisma.sequence.create({ data: { workspaceId, slug: `s${Date.now()}`, name: 'Log', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const runs: Run[] = [];
  await transaction(t.runtime, async (tx) => {
    for (let i = 0; i < count; i++) {
      const subscriber = await tx.subscriber.create({ data: { workspaceId, email: `r${i}-${sequence.id}@log.test` } });
      const run = await tx.enrollment.create({ data: { workspaceId, sequenceId: sequence.id, subscriberId: subscriber.id, status: 'ACTIVE' } });
      runs.push({ id: run.id, workspaceId, sequenceId: sequence.id, subscriberId: subscriber.id });
    }
    await logRunChanges(tx, runs.map((r) => ({ ...r, previousStatus: null, status: 'ACTIVE' as const, reason: null, occurredAt: new Date() })));
  });
  return runs;
}

/** Flips a run between ACTIVE and PAUSED under its row lock, as every engine writer does. */
async function flip(tx: Tx, run: Run) {
  const [{ status }] = await tx.$queryRaw<[{ status: EnrollmentStatus }]>`SELECT status::text FROM "Enrollment" WHERE id = ${run.id}::uuid FOR UPDATE`;
  await setRunStatus(tx, { ...run, status }, status === 'ACTIVE' ? 'PAUSED' : 'ACTIVE', 'flip');
}

/** Reads a feed in the background; `until(n)` resolves once n changes arrived. */
function follow(workspaceId: string, after: string | null) {
  const rows: FeedRow[] = [];
  let wake = () => {};
  const reading = (async () => {
    for await (const row of changeFeed(t.prisma, { workspaceId }, after === null ? null : decodeCursor(after, ['after']), controller.signal)) {
      rows.push(row);
      wake();
    }
  })();
  reading.catch(() => {});
  return {
    rows,
    async until(count: number) {
      const deadline = Date.now() + 30_000;
      while (rows.length < count) {
        if (Date.now() > deadline) throw new Error(`only ${rows.length} of ${count} changes arrived`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200); // look again even if a wake was missed; the loop waits for the count
        });
      }
      return rows;
    },
  };
}

// Only to interleave concurrent writers' commits, never to wait for an outcome.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every committed change once, none of the rest, and each run's changes chained in order. */
async function expectExact(workspaceId: string, rows: FeedRow[], from = 0) {
  const changes = await t.prisma.enrollmentChange.findMany({ where: { workspaceId }, orderBy: { id: 'asc' } });
  // Each change with its run's status now (the log has no relation to the run: load the runs by id).
  const runs = await t.prisma.enrollment.findMany({ where: { id: { in: changes.map((c) => c.enrollmentId) } }, select: { id: true, status: true } });
  const statusOf = new Map(runs.map((r) => [r.id, r.status]));
  const logged = changes.map((c) => ({ ...c, enrollment: { status: statusOf.get(c.enrollmentId)! } }));
  const expected = logged.slice(from);
  expect(rows.map((r) => r.id).sort((a, b) => (a < b ? -1 : 1))).toEqual(expected.map((c) => c.id).sort((a, b) => (a < b ? -1 : 1)));
  // Positions strictly increase: the cursor of each change is past the previous one.
  for (let i = 1; i < rows.length; i++) expect(rows[i]!.position > rows[i - 1]!.position).toBe(true);
  const byId = new Map(logged.map((c) => [c.id, c]));
  const perRun = new Map<string, typeof logged>();
  for (const row of rows) {
    const change = byId.get(row.id)!;
    perRun.set(change.enrollmentId, [...(perRun.get(change.enrollmentId) ?? []), change]);
  }
  for (const [, changes] of perRun) {
    if (from === 0) expect(changes[0]!.previousStatus).toBeNull();
    for (let i = 1; i < changes.length; i++) expect(changes[i]!.previousStatus).toBe(changes[i - 1]!.status);
    expect(changes.at(-1)!.status).toBe(changes.at(-1)!.enrollment.status);
  }
}

describe('change log without a writer lock', () => {
  it('keeps a run in order when a transaction with an older id changes it after a younger one committed', async () => {
    const ws = await t.workspace('inversion');
    const [run] = await makeRuns(ws.workspaceId, 1);
    const live = follow(ws.workspaceId, '0');
    await live.until(1);
    let haveXid!: () => void;
    const older = new Promise<void>((resolve) => (haveXid = resolve));
    let youngerDone!: () => void;
    const younger = new Promise<void>((resolve) => (youngerDone = resolve));
    let olderXid = 0n;
    const first = transaction(t.runtime, async (tx) => {
      // Take a transaction id now, change the run only after a younger transaction has.
      [{ xid: olderXid }] = await tx.$queryRaw<[{ xid: bigint }]>`SELECT pg_current_xact_id()::text::bigint AS xid`;
      haveXid();
      await younger;
      await flip(tx, run!); // PAUSED -> ACTIVE
    });
    await older;
    await transaction(t.runtime, (tx) => flip(tx, run!)); // ACTIVE -> PAUSED, commits first with the higher id
    youngerDone();
    await first;
    const rows = await live.until(3);
    const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: run!.id }, orderBy: { id: 'asc' } });
    expect(changes.map((c) => [c.previousStatus, c.status])).toEqual([[null, 'ACTIVE'], ['ACTIVE', 'PAUSED'], ['PAUSED', 'ACTIVE']]);
    // The older transaction's change is keyed after the younger one's (as its log write comes after), not by its own id.
    expect(changes[2]!.xid >= changes[1]!.xid).toBe(true);
    expect(changes[1]!.xid > olderXid).toBe(true);
    expect(rows.map((r) => r.id)).toEqual(changes.map((c) => c.id));
    await expectExact(ws.workspaceId, rows);
  });

  it('keeps a run in order when a bulk cancel waits for its row while another transaction changes it', async () => {
    const ws = await t.workspace('bulk inversion');
    // In id order: the cancel locks first, waits at mid, and reaches last after it changed.
    const [first, mid, last] = (await makeRuns(ws.workspaceId, 3)).sort((a, b) => (a.id < b.id ? -1 : 1));
    const live = follow(ws.workspaceId, '0');
    await live.until(3);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const blocker = transaction(t.runtime, async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM "Enrollment" WHERE id = ${mid!.id}::uuid FOR UPDATE`;
      holding();
      await released;
    });
    await held;
    // One statement: its snapshot is taken before it locks `first` (taking its transaction id) and waits at `mid`.
    const ids = [first!.id, mid!.id, last!.id];
    const cancelling = transaction(t.runtime, (tx) => endRunsWhere(t.runtime, tx, Prisma.sql`e.id = ANY(${ids}::uuid[])`, { kind: 'cancel', reason: 'bulk' }));
    await waitFor(
      async () => {
        const [{ waiting }] = await t.prisma.$queryRaw<[{ waiting: number }]>`
          SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH old AS%'`;
        return waiting === 1;
      },
      { message: 'the cancel waiting for the locked run' },
    );
    // A younger transaction changes `last` and commits while the cancel waits.
    await transaction(t.runtime, (tx) => flip(tx, last!)); // ACTIVE -> PAUSED
    release();
    await blocker;
    expect((await cancelling).count).toBe(3);
    const rows = await live.until(7);
    const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: last!.id }, orderBy: [{ xid: 'asc' }, { id: 'asc' }] });
    expect(changes.map((c) => [c.previousStatus, c.status])).toEqual([[null, 'ACTIVE'], ['ACTIVE', 'PAUSED'], ['PAUSED', 'CANCELLED']]);
    await expectExact(ws.workspaceId, rows);
  });

  it.each([5_000, 3])('interleaved writers: none lost, none twice, none aborted, each run in order (tail of %i)', { timeout: 120_000 }, async (tailSize) => {
    configureChangeFeed({ tailSize });
    try {
      const ws = await t.workspace(`writers ${tailSize}`);
      const runs = await makeRuns(ws.workspaceId, 12);
      const live = follow(ws.workspaceId, '0');
      await live.until(runs.length);
      let aborted = 0;
      const writer = async (w: number) => {
        for (let i = 0; i < 12; i++) {
          const picked = [...new Set([runs[(w * 7 + i * 5) % runs.length]!, runs[(w + i * 3) % runs.length]!])].sort((a, b) => (a.id < b.id ? -1 : 1));
          await transaction(t.runtime, async (tx) => {
            await tx.$queryRaw`SELECT pg_current_xact_id()::text`;
            await sleep((w * 13 + i * 7) % 9); // ids taken now, commits in another order
            // All its runs locked first, in id order, as lockRuns does: the status counters'
            // trigger then writes its shard row after every run lock is held, so no cycle.
            await tx.$queryRaw`SELECT id FROM "Enrollment" WHERE id = ANY(${picked.map((r) => r.id)}::uuid[]) ORDER BY id FOR UPDATE`;
            for (const run of picked) await flip(tx, run);
            await sleep((w * 5 + i * 11) % 7); // row locks held a while, so other writers queue behind them
            if ((w + i) % 9 === 0) throw new Error('rolled back');
          }).catch((error: Error) => {
            if (error.message !== 'rolled back') throw error;
            aborted += 1;
          });
        }
      };
      await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(writer));
      expect(aborted).toBeGreaterThan(0);
      const total = await t.prisma.enrollmentChange.count({ where: { workspaceId: ws.workspaceId } });
      expect(total).toBeGreaterThan(runs.length + 100);
      await expectExact(ws.workspaceId, await live.until(total));
      // A reader from the start after the fact, and one resumed from the middle, see the same.
      await expectExact(ws.workspaceId, await follow(ws.workspaceId, '0').until(total));
      const middle = Math.floor(total / 2);
      const resumed = await follow(ws.workspaceId, encodeCursor(live.rows[middle - 1]!)).until(total - middle);
      expect(resumed.map((r) => r.id)).toEqual(live.rows.slice(middle).map((r) => r.id));
    } finally {
      configureChangeFeed({ tailSize: 5_000 });
    }
  });

  it('is held only by a transaction that has written the log (in this database), and catches up when it ends, without a NOTIFY', async () => {
    const ws = await t.workspace('held');
    const [run] = await makeRuns(ws.workspaceId, 1);
    const live = follow(ws.workspaceId, '0');
    await live.until(1);
    const clients: pg.Client[] = [];
    const open = async (url: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      clients.push(client);
      return client;
    };
    // An idle session and an open read-only transaction hold nothing.
    await open(t.url);
    const reader = await open(t.url);
    await reader.query('BEGIN');
    await reader.query('SELECT count(*) FROM "Message"');
    await transaction(t.runtime, (tx) => flip(tx, run!));
    await live.until(2);
    // A transaction with an id in another database of the cluster cannot write this log: it holds nothing.
    const elsewhere = await open(t.url.replace(/\/[^/?]+(\?|$)/, '/postgres$1'));
    await elsewhere.query('BEGIN');
    await elsewhere.query('SELECT pg_current_xact_id()::text');
    await transaction(t.runtime, (tx) => flip(tx, run!));
    await live.until(3);
    // Nor does one that has written in this database but not the change log (a claim between its statements).
    const other = await open(t.url);
    await other.query('BEGIN');
    await other.query('CREATE TEMP TABLE written (n int); INSERT INTO written VALUES (1)');
    await transaction(t.runtime, (tx) => flip(tx, run!));
    await live.until(4);
    // A transaction that has taken a change-log key (as it writes the log) holds the horizon until it ends.
    const writer = await open(t.url);
    await writer.query('BEGIN');
    await writer.query('SELECT stepwise_change_key()');
    await transaction(t.runtime, (tx) => flip(tx, run!));
    await waitFor(() => changesHeld(ws.workspaceId));
    expect(live.rows).toHaveLength(4);
    // It ends without a NOTIFY of ours: the held tail reads again by itself.
    await writer.query('ROLLBACK');
    await reader.query('ROLLBACK');
    await elsewhere.query('ROLLBACK');
    await other.query('ROLLBACK');
    await live.until(5);
    await expectExact(ws.workspaceId, live.rows);
    await Promise.all(clients.map((c) => c.end()));
  });

  it('reads an old seq cursor as the place it named', async () => {
    const ws = await t.workspace('legacy');
    const runs = await makeRuns(ws.workspaceId, 3);
    // Rows logged before the xid column: xid 0, numbered by seq (ids in the same order).
    await t.prisma.$executeRaw`UPDATE "EnrollmentChange" SET xid = 0, seq = id - (SELECT min(id) FROM "EnrollmentChange" WHERE "workspaceId" = ${ws.workspaceId}::uuid) + 1 WHERE "workspaceId" = ${ws.workspaceId}::uuid`;
    await transaction(t.runtime, (tx) => flip(tx, runs[0]!));
    const all = await follow(ws.workspaceId, '0').until(4);
    expect(all.slice(0, 3).map((r) => encodeCursor(r))).toEqual(['1', '2', '3']);
    const after2 = await follow(ws.workspaceId, '2').until(2);
    expect(after2.map((r) => r.id)).toEqual(all.slice(2).map((r) => r.id));
  });

  it("deletes a run's changes with the run, and only its (no foreign key: a trigger)", async () => {
    const ws = await t.workspace('deleted');
    const runs = await makeRuns(ws.workspaceId, 3);
    await transaction(t.runtime, (tx) => flip(tx, runs[0]!));
    const count = (id: string) => t.prisma.enrollmentChange.count({ where: { enrollmentId: id } });
    expect(await count(runs[0]!.id)).toBe(2);
    // One run by itself, and one through its subscriber's cascade.
    await t.prisma.enrollment.delete({ where: { id: runs[0]!.id } });
    await t.prisma.subscriber.delete({ where: { id: runs[1]!.subscriberId } });
    expect([await count(runs[0]!.id), await count(runs[1]!.id), await count(runs[2]!.id)]).toEqual([0, 0, 1]);
  });
});

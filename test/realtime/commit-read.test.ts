// A transaction of this process that writes a workspace's change log reads the
// workspace's shared tail after its COMMIT, in the same round trip: its changes
// reach the waiting feeds as the COMMIT is answered, and the tail does not read
// the log again for them. A change it finds held behind an older writer still
// open waits for that writer (the tail waits on the writer's own lock in
// Postgres), and comes after its changes.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { poolOf } from '../../src/db/client.js';
import { changeFeed, changesHeld, type FeedRow } from '../../src/realtime/change-feed.js';
import { parseId } from '../../src/domain/public-id.js';
import { useTestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait-for.js';

const statements: string[] = [];
const t = await useTestApp({ onQuery: (sql) => statements.push(sql) });
const feeds: AbortController[] = [];
afterAll(() => feeds.forEach((f) => f.abort()));

const TRACK = `mutation($input: TrackEventInput!) { trackEvent(input: $input) { enrollments { id } errors { message } } }`;

async function setUp(name: string) {
  const ws = await t.workspace(name);
  const created = await ws.gql(`mutation { createSequence(input: { name: "${name}", trigger: EVENT_RECEIVED, eventName: "commit.read",
    steps: [{ subject: "Hi", blocks: [{ type: "text", text: "Hello" }] }] }) { sequence { id } errors { message } } }`);
  const sequenceId = created.data.createSequence.sequence.id as string;
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId });
  const email = `${name.replace(/\W/g, '').toLowerCase()}@commit-read.test`;
  const track = async () => {
    const res = await ws.gql(TRACK, { input: { email, event: 'commit.read' } });
    expect(res.errors).toBeUndefined();
    return parseId(res.data.trackEvent.enrollments[0].id)!.uuid;
  };
  const first = await track();
  const subscriber = await t.prisma.subscriber.findFirstOrThrow({ where: { workspaceId: ws.workspaceId, email } });
  // Follows the subscriber from the log's start: it has the first run's start once its tail is loaded.
  const rows: FeedRow[] = [];
  const abort = new AbortController();
  feeds.push(abort);
  void (async () => {
    for await (const row of changeFeed(t.runtime.db, { workspaceId: ws.workspaceId, subscriberId: subscriber.id }, { position: 0n }, abort.signal)) rows.push(row);
  })();
  await waitFor(() => rows.length === 1, { message: 'the first run start' });
  expect(rows[0]!.enrollmentId).toBe(first);
  return { ws, subscriber, track, rows };
}

// The tail's own reads go on the pool; reads after a COMMIT on the transaction's connection.
const pool = poolOf(t.runtime.db)!;
const poolQuery = pool.query.bind(pool) as (...args: unknown[]) => unknown;
let ownReads = 0;
/** The tail's own reads by workspace (the statement's first value). */
const ownReadsOf = new Map<string, number>();
pool.query = ((...args: unknown[]) => {
  const config = args[0] as { text?: string; values?: unknown[] } | string;
  if ((typeof config === 'string' ? config : config.text ?? '').includes('pg_snapshot_xip')) {
    ownReads += 1;
    const workspaceId = String((config as { values?: unknown[] }).values?.[0]);
    ownReadsOf.set(workspaceId, (ownReadsOf.get(workspaceId) ?? 0) + 1);
  }
  return poolQuery(...args);
}) as typeof pool.query;

/** Reads of the log's tail (the horizon query) since `statements` was emptied: after a COMMIT, and the tail's own. */
function logReads() {
  const all = statements.filter((sql) => sql.includes('pg_snapshot_xip')).length;
  return { afterCommit: all - ownReads, own: ownReads };
}

it("trackEvent's run start reaches the waiting feed with its COMMIT's answer; the tail does not read again", { timeout: 30_000 }, async () => {
  const { track, rows } = await setUp('Commit read');
  statements.length = 0;
  ownReads = 0;
  const runs: string[] = [];
  for (let i = 0; i < 10; i++) {
    runs.push(await track());
    await waitFor(() => rows.length === i + 2, { message: `run start ${i}` });
  }
  expect(rows.slice(1).map((r) => [r.enrollmentId, r.status])).toEqual(runs.map((id) => [id, 'ACTIVE']));
  const reads = logReads();
  expect(reads.afterCommit).toBe(10);
  // Without the read after the COMMIT (or with the tail reading again after it), one read of its own per change.
  // The feeds' 2 s poll may add one.
  expect(reads.own).toBeLessThanOrEqual(1);
});

it('a change the read after the COMMIT finds held waits for the older writer, and comes after its change', { timeout: 30_000 }, async () => {
  const { ws, subscriber, track, rows } = await setUp('Held read');
  const run = await t.prisma.enrollment.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } });
  // Another connection (another process) logs a change and stays open: its key is older than trackEvent's.
  const other = new pg.Client({ connectionString: t.url });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query(
      `INSERT INTO "EnrollmentChange" ("workspaceId", "enrollmentId", "sequenceId", "subscriberId", "previousStatus", status, reason)
       VALUES ($1, $2, $3, $4, 'ACTIVE', 'ACTIVE', 'older writer')`,
      [ws.workspaceId, run.id, run.sequenceId, subscriber.id],
    );
    const started = await track();
    // The read after trackEvent's COMMIT has found its change held: noted before the mutation answered.
    expect(changesHeld(ws.workspaceId)).toBe(true);
    expect(rows).toHaveLength(1);
    // The tail waits in Postgres for that writer to end: on the writer's own lock, keyed by its transaction id.
    const [{ xid }] = (await other.query('SELECT pg_current_xact_id()::text AS xid')).rows as [{ xid: string }];
    const key = Number(BigInt(xid) % 4294967296n) - 2147483648;
    await waitFor(
      async () =>
        (await t.prisma.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 1400139896 AND objid::bigint = ${key}::int::oid::bigint`)[0]!.n === 1,
      { message: "a reader waiting on the older writer's lock" },
    );
    // No NOTIFY: the waiting read has the changes the moment the writer commits.
    await other.query('COMMIT');
    await waitFor(() => rows.length === 3, { message: 'both changes' });
    expect(rows.slice(1).map((r) => [r.enrollmentId, r.reason])).toEqual([
      [run.id, 'older writer'],
      [started, null],
    ]);
    expect(rows[1]!.position < rows[2]!.position).toBe(true);
  } finally {
    await other.end();
  }
});

it('a read after a COMMIT for a workspace no feed of this process follows is not sent', async () => {
  // The feeds of the tests above still follow their workspaces (their tails poll, on the pool).
  const ws = await t.workspace(`No feed ${randomUUID()}`);
  statements.length = 0;
  ownReads = 0;
  ownReadsOf.clear();
  const res = await ws.gql(TRACK, { input: { email: 'nobody@commit-read.test', event: 'nothing.fires' } });
  expect(res.errors).toBeUndefined();
  expect(statements).toContain('COMMIT');
  expect(logReads().afterCommit).toBe(0);
  expect(ownReadsOf.get(ws.workspaceId) ?? 0).toBe(0);
});

it('a run start of a subscriber no feed here follows is read neither after its COMMIT nor by the tail', { timeout: 30_000 }, async () => {
  const { ws, track, rows } = await setUp('Other subscriber');
  statements.length = 0;
  ownReads = 0;
  ownReadsOf.clear();
  // Another subscriber of the same workspace, whose runs start in this process.
  for (let i = 0; i < 5; i++) {
    const res = await ws.gql(TRACK, { input: { email: `other${i}@commit-read.test`, event: 'commit.read' } });
    expect(res.errors).toBeUndefined();
    expect(res.data.trackEvent.enrollments).toHaveLength(1);
  }
  const started = await track();
  await waitFor(() => rows.length === 2, { message: "the followed subscriber's run start" });
  expect(rows[1]!.enrollmentId).toBe(started);
  // Only the followed subscriber's start was read, after its COMMIT (read for each, 6); the feeds' 2 s poll may add one of the tail's own.
  expect(logReads().afterCommit).toBe(1);
  expect(ownReadsOf.get(ws.workspaceId) ?? 0).toBeLessThanOrEqual(1);
});

// A run keeps foreign keys only to its sequence and subscriber; its workspace
// and entry event, and an event's workspace, are kept by those and by a
// trigger (migration *_run_event_no_fk). Deleting any of them still leaves no
// run or event pointing at nothing, also when the delete races a run's start.
import { expect, it } from 'vitest';
import pg from 'pg';
import { transaction } from '../../src/db/transaction.js';
import { startRun } from '../../src/engine/start-run.js';
import { useTestEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait-for.js';
import { email, engineApi } from './support.js';

const t = await useTestEngine();

const TRACK_MANY = `mutation($input: TrackEventsInput!) { trackEvents(input: $input) { results { enrollments { id } } errors { message } } }`;

async function setUp(name: string) {
  const api = engineApi(t, await t.workspace(name));
  await api.sequence({ name: `${name} sequence`, trigger: 'EVENT_RECEIVED', eventName: `${name}.go`, steps: [email('Later', { days: 1 })] });
  const sequence = await t.prisma.sequence.findFirstOrThrow({ where: { workspaceId: api.ws.workspaceId, name: `${name} sequence` } });
  const track = async (emails: string[]) => {
    const res = await api.ws.gql(TRACK_MANY, { input: { events: emails.map((e, n) => ({ email: e, event: `${name}.go`, properties: { n } })) } });
    expect(res.errors).toBeUndefined();
    expect(res.data.trackEvents.errors).toEqual([]);
  };
  return { api, sequence, workspaceId: api.ws.workspaceId, track };
}

/** Rows of these tables whose run, sequence, subscriber, event or workspace is gone. */
async function orphans(): Promise<Record<string, number>> {
  const [row] = await t.prisma.$queryRaw<Record<string, number>[]>`
    SELECT
      (SELECT count(*)::int FROM "Enrollment" e WHERE NOT EXISTS (SELECT 1 FROM "Workspace" w WHERE w.id = e."workspaceId")) AS "runWorkspace",
      (SELECT count(*)::int FROM "Enrollment" e WHERE NOT EXISTS (SELECT 1 FROM "Subscriber" s WHERE s.id = e."subscriberId")) AS "runSubscriber",
      (SELECT count(*)::int FROM "Enrollment" e WHERE e."entryEventId" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "Event" v WHERE v.id = e."entryEventId")) AS "runEvent",
      (SELECT count(*)::int FROM "Event" v WHERE NOT EXISTS (SELECT 1 FROM "Workspace" w WHERE w.id = v."workspaceId")) AS "eventWorkspace",
      (SELECT count(*)::int FROM "EnrollmentChange" c WHERE NOT EXISTS (SELECT 1 FROM "Enrollment" e WHERE e.id = c."enrollmentId")) AS "changeRun"`;
  return row!;
}
const NONE = { runWorkspace: 0, runSubscriber: 0, runEvent: 0, eventWorkspace: 0, changeRun: 0 };

it("deleting a workspace deletes its runs, events and runs' changes", async () => {
  const a = await setUp('gone');
  const b = await setUp('kept');
  await a.track(['a1@parents.test', 'a2@parents.test']);
  await b.track(['b1@parents.test']);
  expect(await t.prisma.enrollment.count({ where: { workspaceId: a.workspaceId } })).toBe(2);
  await t.prisma.workspace.delete({ where: { id: a.workspaceId } });
  expect(await t.prisma.enrollment.count({ where: { workspaceId: a.workspaceId } })).toBe(0);
  expect(await t.prisma.event.count({ where: { workspaceId: a.workspaceId } })).toBe(0);
  expect(await t.prisma.enrollmentChange.count({ where: { workspaceId: a.workspaceId } })).toBe(0);
  expect(await t.prisma.enrollment.count({ where: { workspaceId: b.workspaceId } })).toBe(1);
  expect(await orphans()).toEqual(NONE);
});

it("deleting an event clears its runs' entryEventId (the snapshot stays), and only theirs", async () => {
  const s = await setUp('event');
  await s.track(['e1@parents.test', 'e2@parents.test']);
  const runs = await t.prisma.enrollment.findMany({ where: { sequenceId: s.sequence.id }, orderBy: { id: 'asc' } });
  expect(runs.every((r) => r.entryEventId !== null)).toBe(true);
  await t.prisma.event.delete({ where: { id: runs[0]!.entryEventId! } });
  const after = await t.prisma.enrollment.findMany({ where: { sequenceId: s.sequence.id }, orderBy: { id: 'asc' } });
  expect(after.map((r) => r.entryEventId)).toEqual([null, runs[1]!.entryEventId]);
  expect(after[0]!.entryEvent).toEqual(runs[0]!.entryEvent);
  expect(await orphans()).toEqual(NONE);
});

it('deleting a subscriber deletes its runs and events', async () => {
  const s = await setUp('subscriber');
  await s.track(['s1@parents.test', 's2@parents.test']);
  const gone = await t.prisma.subscriber.findFirstOrThrow({ where: { workspaceId: s.workspaceId, email: 's1@parents.test' } });
  await t.prisma.subscriber.delete({ where: { id: gone.id } });
  expect(await t.prisma.enrollment.count({ where: { subscriberId: gone.id } })).toBe(0);
  expect(await t.prisma.event.count({ where: { subscriberId: gone.id } })).toBe(0);
  expect(await t.prisma.enrollment.count({ where: { sequenceId: s.sequence.id } })).toBe(1);
  expect(await orphans()).toEqual(NONE);
});

it('a subscriber deleted while a run starts for them: the delete waits for the start and takes the run with it', { timeout: 120_000 }, async () => {
  const s = await setUp('race-start');
  await s.track(['r1@parents.test']);
  const subscriber = await t.prisma.subscriber.findFirstOrThrow({ where: { workspaceId: s.workspaceId, email: 'r1@parents.test' } });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const start = transaction(t.runtime, async (tx) => {
    const result = await startRun(t.runtime, tx, { sequence: s.sequence, subscriberId: subscriber.id });
    started();
    await held;
    return result;
  });
  await running;
  const other = new pg.Client({ connectionString: t.url });
  await other.connect();
  try {
    const deleting = other.query(`DELETE FROM "Subscriber" WHERE id = $1`, [subscriber.id]);
    await waitFor(
      async () => (await t.prisma.$queryRaw<unknown[]>`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM "Subscriber"%'`).length,
      { timeout: 60_000, message: 'the delete waiting on the starting run' },
    );
    release();
    expect((await start).started).toBe(true);
    await deleting;
  } finally {
    await other.end();
  }
  expect(await t.prisma.enrollment.count({ where: { subscriberId: subscriber.id } })).toBe(0);
  expect(await orphans()).toEqual(NONE);
});

it('a run started for a subscriber being deleted fails once the delete commits, and leaves nothing behind', { timeout: 120_000 }, async () => {
  const s = await setUp('race-delete');
  await s.track(['d1@parents.test']);
  const subscriber = await t.prisma.subscriber.findFirstOrThrow({ where: { workspaceId: s.workspaceId, email: 'd1@parents.test' } });
  const other = new pg.Client({ connectionString: t.url });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query(`DELETE FROM "Subscriber" WHERE id = $1`, [subscriber.id]);
    const start = transaction(t.runtime, (tx) => startRun(t.runtime, tx, { sequence: s.sequence, subscriberId: subscriber.id })).then(
      () => null,
      (error: Error) => error,
    );
    await waitFor(
      // Its statement (jobs, runs and change log) is longer than pg_stat_activity shows: any lock wait on this database is it.
      async () => (await t.prisma.$queryRaw<unknown[]>`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).length,
      { timeout: 60_000, message: 'the run start waiting on the deleted subscriber' },
    );
    await other.query('COMMIT');
    expect(String(await start)).toMatch(/foreign key/);
  } finally {
    await other.end();
  }
  expect(await t.prisma.enrollment.count({ where: { subscriberId: subscriber.id } })).toBe(0);
  expect(await orphans()).toEqual(NONE);
});

// Opens and clicks are written in batches after (opens) or before (clicks) they are
// answered: a graceful stop must write every one it answered or took in, and a
// failed write must be retried without recording anything twice. The database
// write is held by a row lock taken here, so the buffer is known to be full when
// the stop begins (no timing involved). Then how flushes are grouped: clicks that
// come while clicks are written go together in the next statement (or, having
// waited clickWaitMs, in their own beside it), a click does not wait behind opens,
// and a link's workspace decides within a mixed batch.
import { setImmediate } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { trackingUrl } from '../../src/domain/tracking-links.js';
import { createLogger } from '../../src/logger.js';
import { createRuntime } from '../../src/runtime.js';
import { buildApp } from '../../src/server/app.js';
import { TrackingRecorder, type LinkFact } from '../../src/services/tracking-recorder.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

const { prisma, url } = await useTestDatabase();
// No job queue started: opens and clicks insert no jobs.
const runtime = createRuntime({ DATABASE_URL: url }, { db: prisma, workers: false });

async function messages(count: number) {
  const workspace = await prisma.workspace.create({ data: { name: 'shutdown' } });
  const sequence = await prisma.sequence.create({ data: { workspaceId: workspace.id, slug: `s-${workspace.id}`, name: 'shutdown', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const step = await prisma.step.create({ data: { sequenceId: sequence.id, position: 1, type: 'EMAIL', subject: 'Hi', blocks: [] } });
  await prisma.$executeRawUnsafe(
    `INSERT INTO "Message" (id, "workspaceId", "stepId", "to", subject, html, status, "smtpMessageId", "sentAt")
     SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'p' || i || '@example.com', 'Hi', '<p>hi</p>', 'SENT', '<s-' || i || '-' || $2 || '@stepwise.test>', now()
     FROM generate_series(1, $3::int) AS i`,
    workspace.id,
    step.id,
    count,
  );
  const ids = (await prisma.message.findMany({ where: { stepId: step.id }, orderBy: { id: 'asc' }, select: { id: true } })).map((m) => m.id);
  return { workspaceId: workspace.id, stepId: step.id, ids };
}

/** Holds a lock on the messages' rows in its own transaction until `release()`. */
async function holdRows(ids: string[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT id FROM "Message" WHERE id = ANY($1::uuid[]) FOR UPDATE`, [ids]);
  return {
    /** The backend of the statement waiting for these rows (the recorder's flush: nothing else writes here). */
    waiter: () =>
      waitFor(
        async () => {
          const rows = await client.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          );
          return rows.rows[0]?.pid;
        },
        { message: 'a flush waiting for the held rows' },
      ),
    async release() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** Opens and clicks per message, and whether the stats counters equal a direct count. */
async function recorded(stepId: string) {
  const events = await prisma.messageEvent.groupBy({ by: ['messageId', 'type'], where: { message: { stepId } }, _count: { _all: true } });
  const [counters] = await prisma.$queryRaw<{ opened: number; clicked: number }[]>`
    SELECT COALESCE(sum(opened), 0)::int AS opened, COALESCE(sum(clicked), 0)::int AS clicked FROM "StepMessageCount" WHERE "stepId" = ${stepId}::uuid`;
  const [direct] = await prisma.$queryRaw<{ opened: number; clicked: number }[]>`
    SELECT count("openedAt")::int AS opened, count("clickedAt")::int AS clicked FROM "Message" WHERE "stepId" = ${stepId}::uuid`;
  return { events, counters, direct };
}

const times = (events: { messageId: string; type: string; _count: { _all: number } }[], type: string) =>
  Object.fromEntries(events.filter((e) => e.type === type).map((e) => [e.messageId, e._count._all]));

describe('opens and clicks across a graceful stop', () => {
  it('every open answered and every click taken in before the stop is written, in a few statements', async () => {
    const app = buildApp({ runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 } });
    const port = await app.start(0, '127.0.0.1');
    runtime.tracking.configure({ publicUrl: `http://127.0.0.1:${port}` });
    const keys = await runtime.tracking.keys();
    const { workspaceId, stepId, ids } = await messages(30);
    const opened = ids.slice(0, 20);
    const clicked = ids.slice(20);
    const held = await holdRows(ids);
    const before = app.tracking.writes;

    // Opens are answered at once, though nothing can be written yet.
    const pixels = await Promise.all(opened.map((messageId) => fetch(trackingUrl(keys, { kind: 'open', workspaceId, messageId }))));
    expect(pixels.map((r) => r.status)).toEqual(opened.map(() => 200));
    // Clicks wait for their write (the redirect needs the message): in flight at the stop.
    const clicks = clicked.map((messageId) =>
      fetch(trackingUrl(keys, { kind: 'click', workspaceId, messageId, url: 'https://example.com/go' }), { redirect: 'manual' }),
    );
    await held.waiter();
    // Every fact is taken in, whichever flush it joined (all of them wait on the held rows).
    await waitFor(() => app.tracking.unwritten === ids.length, { message: 'every open and click taken in' });
    expect(await prisma.messageEvent.count()).toBe(0);

    const stopping = app.stop({ timeoutMs: 20_000 });
    const late = await fetch(trackingUrl(keys, { kind: 'open', workspaceId, messageId: opened[0]! })).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    await held.release();
    await stopping;

    expect((await Promise.all(clicks)).map((r) => [r.status, r.headers.get('location')])).toEqual(clicked.map(() => [302, 'https://example.com/go']));
    const { events, counters, direct } = await recorded(stepId);
    expect(times(events, 'OPEN')).toEqual(Object.fromEntries(opened.map((id) => [id, 1])));
    expect(times(events, 'CLICK')).toEqual(Object.fromEntries(clicked.map((id) => [id, 1])));
    expect(direct).toEqual({ opened: 30, clicked: 10 });
    expect(counters).toEqual(direct);
    const statuses = await prisma.message.groupBy({ by: ['status'], where: { stepId }, _count: { _all: true } });
    expect(Object.fromEntries(statuses.map((s) => [s.status, s._count._all]))).toEqual({ OPENED: 20, CLICKED: 10 });
    // The held flushes (two may run at once), then everything that gathered behind them.
    expect(app.tracking.writes - before).toBeLessThanOrEqual(3);
  });

  it('a write that fails is retried: nothing lost, nothing twice, first times kept', async () => {
    const app = buildApp({ runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 }, tracking: { retryMs: 10 } });
    const port = await app.start(0, '127.0.0.1');
    runtime.tracking.configure({ publicUrl: `http://127.0.0.1:${port}` });
    const keys = await runtime.tracking.keys();
    const { workspaceId, stepId, ids } = await messages(10);
    const held = await holdRows(ids);

    const open = (messageId: string) => fetch(trackingUrl(keys, { kind: 'open', workspaceId, messageId }));
    for (const messageId of ids) expect((await open(messageId)).status).toBe(200);
    // The flush's connection is cut while it waits: its statement is rolled back, its facts kept.
    const pid = await held.waiter();
    await prisma.$queryRaw`SELECT pg_terminate_backend(${pid}::int)`;
    // More opens while the write is retried: they join the line behind it.
    for (const messageId of ids.slice(0, 3)) await open(messageId);
    await held.release();
    await app.tracking.settled();

    const { events, counters, direct } = await recorded(stepId);
    expect(times(events, 'OPEN')).toEqual(Object.fromEntries(ids.map((id, i) => [id, i < 3 ? 2 : 1])));
    expect(direct).toEqual({ opened: 10, clicked: 0 });
    expect(counters).toEqual(direct);
    // The first open of a message is the one it keeps.
    const first = await prisma.$queryRaw<{ same: boolean }[]>`
      SELECT m."openedAt" = min(e."createdAt") AS same FROM "Message" m JOIN "MessageEvent" e ON e."messageId" = m.id
      WHERE m."stepId" = ${stepId}::uuid GROUP BY m.id`;
    expect(first.map((r) => r.same)).toEqual(ids.map(() => true));
    await app.stop();
  });

  it('keeps at most maxBuffered unwritten facts while writes cannot proceed; the rest are refused, the kept ones written', async () => {
    const app = buildApp({ runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 }, tracking: { maxBacklog: 4, maxBuffered: 6 } });
    const { workspaceId, stepId, ids } = await messages(10);
    const held = await holdRows(ids);
    const fact = (messageId: string) => ({ kind: 'open' as const, messageId, workspaceId, url: null, userAgent: null, at: new Date() });

    const first = app.tracking.record(fact(ids[0]!));
    await held.waiter(); // that one is being written: it is no longer buffered
    const kept = ids.slice(1, 7).map((id) => app.tracking.record(fact(id)));
    expect(app.tracking.backlogged).toBe(true);
    await expect(app.tracking.record(fact(ids[7]!))).rejects.toThrow('not kept');
    await held.release();
    expect(await Promise.all([first, ...kept])).toEqual(ids.slice(0, 7).map(() => true));
    const { events } = await recorded(stepId);
    expect(Object.keys(times(events, 'OPEN')).sort()).toEqual(ids.slice(0, 7).sort());
    await app.stop();
  });
});

describe('how opens and clicks are grouped into statements', () => {
  const fact = (kind: LinkFact['kind'], messageId: string, workspaceId: string): LinkFact => ({
    kind,
    messageId,
    workspaceId,
    url: kind === 'click' ? 'https://example.com/go' : null,
    userAgent: null,
    at: new Date(),
  });

  it('clicks that come while a click is being written wait for it, and go together in the next statement', async () => {
    const { workspaceId, stepId, ids } = await messages(3);
    const recorder = new TrackingRecorder(prisma, { clickWaitMs: 60_000 });
    const held = await holdRows([ids[0]!]);
    const first = recorder.record(fact('click', ids[0]!, workspaceId));
    await held.waiter();
    const second = recorder.record(fact('click', ids[1]!, workspaceId));
    // The recorder has looked at its buffer (its kick runs at the next setImmediate) before the third comes.
    await setImmediate();
    await setImmediate();
    const third = recorder.record(fact('click', ids[2]!, workspaceId));
    await held.release();
    expect(await Promise.all([first, second, third])).toEqual([true, true, true]);
    expect(recorder.writes).toBe(2);
    const { events, counters, direct } = await recorded(stepId);
    expect(times(events, 'CLICK')).toEqual(Object.fromEntries(ids.map((id) => [id, 1])));
    expect(counters).toEqual(direct);
  });

  it('a click waits for a click being written at most clickWaitMs, then is written beside it', async () => {
    const { workspaceId, ids } = await messages(2);
    const recorder = new TrackingRecorder(prisma, { clickWaitMs: 20 });
    const held = await holdRows([ids[0]!]);
    const first = recorder.record(fact('click', ids[0]!, workspaceId));
    await held.waiter();
    const second = recorder.record(fact('click', ids[1]!, workspaceId));
    await waitFor(() => prisma.messageEvent.count({ where: { messageId: ids[1]!, type: 'CLICK' } }), { message: "the second click's own statement" });
    await held.release();
    expect(await Promise.all([first, second])).toEqual([true, true]);
    expect(recorder.writes).toBe(2);
  });

  it('a click is written beside a batch of opens still being written, and answered after it', async () => {
    const { workspaceId, ids } = await messages(2);
    const recorder = new TrackingRecorder(prisma);
    const held = await holdRows([ids[0]!]);
    const open = recorder.record(fact('open', ids[0]!, workspaceId));
    await held.waiter();
    let answered = false;
    const click = recorder.record(fact('click', ids[1]!, workspaceId)).then((found) => ((answered = true), found));
    await waitFor(() => prisma.messageEvent.count({ where: { messageId: ids[1]!, type: 'CLICK' } }), { message: "the click's own statement" });
    // Answered in the order the flushes began: not before the opens ahead of it are written.
    expect(answered).toBe(false);
    await held.release();
    expect(await Promise.all([open, click])).toEqual([true, true]);
    expect(recorder.writes).toBe(2);
  });

  it("in one statement, a link naming another workspace than its message's records nothing and is answered as not found", async () => {
    const own = await messages(2);
    const other = await messages(1);
    const recorder = new TrackingRecorder(prisma);
    const answers = Promise.all([
      recorder.record(fact('click', own.ids[0]!, own.workspaceId)),
      recorder.record(fact('click', own.ids[1]!, other.workspaceId)),
      recorder.record(fact('open', other.ids[0]!, own.workspaceId)),
      recorder.record(fact('open', own.ids[1]!, own.workspaceId)),
    ]);
    expect(await answers).toEqual([true, false, false, true]);
    expect(recorder.writes).toBe(1);
    expect((await recorded(own.stepId)).direct).toEqual({ opened: 2, clicked: 1 });
    expect((await recorded(other.stepId)).direct).toEqual({ opened: 0, clicked: 0 });
    expect(await prisma.messageEvent.count({ where: { messageId: { in: [...own.ids, ...other.ids] } } })).toBe(2);
  });

  it('a click link signed for another workspace than its message gets 404, not a redirect', async () => {
    const app = buildApp({ runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 } });
    const port = await app.start(0, '127.0.0.1');
    runtime.tracking.configure({ publicUrl: `http://127.0.0.1:${port}` });
    const keys = await runtime.tracking.keys();
    const own = await messages(1);
    const other = await messages(1);
    const res = await fetch(trackingUrl(keys, { kind: 'click', workspaceId: other.workspaceId, messageId: own.ids[0]!, url: 'https://example.com/go' }), { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(res.headers.get('location')).toBeNull();
    await app.stop();
    expect(await prisma.messageEvent.count({ where: { messageId: own.ids[0]! } })).toBe(0);
  });
});

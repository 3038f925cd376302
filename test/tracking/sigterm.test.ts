// SIGTERM on a real API process while opens it has answered and clicks it has
// taken in are still unwritten (their write is held by a row lock taken here):
// the process writes every one before it exits 0.
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createPrismaClient } from '../../src/db/client.js';
import { deriveTrackingKey, trackingUrl } from '../../src/domain/tracking-links.js';
import { createTestDatabase } from '../helpers/database.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'tracking-sigterm-secret-0123456789';
const { url } = await createTestDatabase();
const prisma = createPrismaClient(url);
let server: ServerProcess | undefined;
afterAll(async () => {
  server?.child.kill('SIGKILL');
  await prisma.$disconnect();
});

async function start(): Promise<ServerProcess> {
  server = await startServerProcess({
    DATABASE_URL: url,
    STEPWISE_SECRET: SECRET,
    STEPWISE_API_KEY: 'sk_tracking_sigterm_0123456789abcdef',
    STEPWISE_ROLE: 'api',
    SHUTDOWN_TIMEOUT_MS: '20000',
  });
  return server;
}

it('SIGTERM writes every open and click the process answered or took in, then exits 0', { timeout: 120_000 }, async () => {
  const server = await start();
  const workspace = await prisma.workspace.create({ data: { name: 'sigterm' } });
  const sequence = await prisma.sequence.create({ data: { workspaceId: workspace.id, slug: 'sigterm', name: 'sigterm', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const step = await prisma.step.create({ data: { sequenceId: sequence.id, position: 1, type: 'EMAIL', subject: 'Hi', blocks: [] } });
  await prisma.$executeRawUnsafe(
    `INSERT INTO "Message" (id, "workspaceId", "stepId", "to", subject, html, status, "smtpMessageId", "sentAt")
     SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'p' || i || '@example.com', 'Hi', '<p>hi</p>', 'SENT', '<sigterm-' || i || '@stepwise.test>', now()
     FROM generate_series(1, 40) AS i`,
    workspace.id,
    step.id,
  );
  const ids = (await prisma.message.findMany({ where: { stepId: step.id }, orderBy: { id: 'asc' }, select: { id: true } })).map((m) => m.id);
  const keys = { baseUrl: `http://127.0.0.1:${server.port}`, key: deriveTrackingKey(SECRET) };
  const [opened, clicked] = [ids.slice(0, 30), ids.slice(30)];

  // Hold the messages' rows: the process can answer, but not write.
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query(`SELECT id FROM "Message" WHERE id = ANY($1::uuid[]) FOR UPDATE`, [ids]);
  const pixels = await Promise.all(opened.map((messageId) => fetch(trackingUrl(keys, { kind: 'open', workspaceId: workspace.id, messageId }))));
  expect(pixels.map((r) => r.status)).toEqual(opened.map(() => 200));
  const clicks = clicked.map((messageId) =>
    fetch(trackingUrl(keys, { kind: 'click', workspaceId: workspace.id, messageId, url: 'https://example.com/go' }), { redirect: 'manual' }),
  );
  await waitFor(
    async () => (await holder.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rowCount,
    { message: 'the process flushing into the held rows' },
  );
  // Every click has reached the process (a click arriving after SIGTERM is refused with 503, rightly).
  await waitFor(
    async () => /^stepwise_tracking_unwritten 40$/m.test(await (await fetch(`${keys.baseUrl}/metrics`)).text()),
    { message: 'the process holding all 30 opens and 10 clicks unwritten' },
  );
  expect(await prisma.messageEvent.count()).toBe(0);

  server.child.kill('SIGTERM');
  await waitFor(() => /shutting down/.test(server.output()), { message: 'the process shutting down' });
  await holder.query('COMMIT');
  await holder.end();
  expect(await server.exited).toBe(0);

  // Clicks in flight were answered during the drain.
  expect((await Promise.all(clicks)).map((r) => r.status)).toEqual(clicked.map(() => 302));
  const events = await prisma.messageEvent.groupBy({ by: ['type'], _count: { _all: true } });
  expect(Object.fromEntries(events.map((e) => [e.type, e._count._all]))).toEqual({ OPEN: 30, CLICK: 10 });
  const messages = await prisma.message.groupBy({ by: ['status'], where: { stepId: step.id, openedAt: { not: null } }, _count: { _all: true } });
  expect(Object.fromEntries(messages.map((m) => [m.status, m._count._all]))).toEqual({ OPENED: 30, CLICKED: 10 });
  const [counters] = await prisma.$queryRaw<{ opened: number; clicked: number }[]>`
    SELECT sum(opened)::int AS opened, sum(clicked)::int AS clicked FROM "StepMessageCount" WHERE "stepId" = ${step.id}::uuid`;
  expect(counters).toEqual({ opened: 40, clicked: 10 });
});

// Fan-out cost: a change delivered to many subscriptions is read once per
// process, fields included, not once per subscription.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, expect, it } from 'vitest';
import { transaction } from '../../src/db/transaction.js';
import { logRunChanges } from '../../src/engine/run-status.js';
import { setRunStatus } from '../helpers/run-status.js';
import { changeFeed, type FeedRow } from '../../src/realtime/change-feed.js';
import { loadChange } from '../../src/realtime/change-loader.js';
import { useTestApp } from '../helpers/app.js';

const statements: string[] = [];
const t = await useTestApp({ onQuery: (sql) => statements.push(sql) });
const port = await t.app.start(0, '127.0.0.1');
const clients: Client[] = [];
afterAll(() => Promise.all(clients.map((c) => c.dispose())));

const SUBSCRIPTIONS = 30;
const CHANGES = 6;

it(`delivers each change to ${SUBSCRIPTIONS} subscriptions with reads that do not grow with them`, { timeout: 60_000 }, async () => {
  const ws = await t.workspace();
  const sequence = await t.prisma.sequence.create({ data: { workspaceId: ws.workspaceId, slug: 'fan', name: 'Fan', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const subscriber = await t.prisma.subscriber.create({ data: { workspaceId: ws.workspaceId, email: 'fan@out.test' } });
  const run = { workspaceId: ws.workspaceId, sequenceId: sequence.id, subscriberId: subscriber.id, id: '' };
  await transaction(t.runtime, async (tx) => {
    run.id = (await tx.enrollment.create({ data: { ...run, id: undefined, status: 'ACTIVE' } })).id;
    await logRunChanges(tx, [{ ...run, previousStatus: null, status: 'ACTIVE', reason: null, occurredAt: new Date() }]);
  });

  const received: any[][] = [];
  const ready: Promise<void>[] = [];
  const done: Promise<void>[] = [];
  for (let i = 0; i < SUBSCRIPTIONS; i++) {
    const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${ws.key}` }, retryAttempts: 0 });
    clients.push(client);
    const mine: any[] = [];
    received.push(mine);
    let first!: () => void;
    let all!: () => void;
    ready.push(new Promise((resolve) => (first = resolve)));
    done.push(new Promise((resolve) => (all = resolve)));
    client.subscribe(
      { query: `subscription { enrollmentChanged(after: "0") { cursor previousStatus status enrollment { id status subscriber { email } } } }` },
      {
        next: (r) => {
          expect(r.errors).toBeUndefined();
          mine.push(r.data!.enrollmentChanged);
          if (mine.length === 1) first();
          if (mine.length === CHANGES + 1) all();
        },
        error: (e) => {
          throw e;
        },
        complete: () => {},
      },
    );
  }
  // Every subscription has replayed the first change: from here on all of them are live.
  await Promise.all(ready);
  statements.length = 0;
  for (let i = 0; i < CHANGES; i++) {
    await transaction(t.runtime, async (tx) => {
      const [{ status }] = await tx.$queryRaw<[{ status: 'ACTIVE' | 'PAUSED' }]>`SELECT status::text FROM "Enrollment" WHERE id = ${run.id}::uuid FOR UPDATE`;
      await setRunStatus(tx, { ...run, status }, status === 'ACTIVE' ? 'PAUSED' : 'ACTIVE', `change ${i}`);
    });
  }
  await Promise.all(done);

  // Every subscription got every change, fields included, in order.
  for (const mine of received) {
    expect(mine.map((c) => [c.previousStatus, c.status])).toEqual([
      [null, 'ACTIVE'],
      ...Array.from({ length: CHANGES }, (_, i) => (i % 2 === 0 ? ['ACTIVE', 'PAUSED'] : ['PAUSED', 'ACTIVE'])),
    ]);
    expect(mine.every((c) => c.enrollment.id && c.enrollment.subscriber.email === 'fan@out.test')).toBe(true);
  }
  // Reads by the feed: tail refreshes (the horizon query) and loads of fields (Prisma selects).
  const reads = statements.filter((sql) => sql.includes('pg_current_snapshot') || (/^\s*SELECT/i.test(sql) && /"public"\."(EnrollmentChange|Enrollment|Subscriber)"/.test(sql)));
  console.log(`${reads.length} reads for ${CHANGES} changes x ${SUBSCRIPTIONS} subscriptions`);
  // At most a refresh plus one load (change, run, subscriber) per change, plus the odd poll: far below one per subscription.
  expect(reads.length).toBeLessThanOrEqual(CHANGES * 5 + 6);
  expect(reads.length).toBeLessThan(SUBSCRIPTIONS * CHANGES);
});

it('loads a change once per selection even when subscriptions ask for it at different moments', async () => {
  const ws = await t.workspace('moments');
  const sequence = await t.prisma.sequence.create({ data: { workspaceId: ws.workspaceId, slug: 'moments', name: 'Moments', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const subscriber = await t.prisma.subscriber.create({ data: { workspaceId: ws.workspaceId, email: 'moments@out.test' } });
  await transaction(t.runtime, async (tx) => {
    const base = { workspaceId: ws.workspaceId, sequenceId: sequence.id, subscriberId: subscriber.id };
    const runs = await Promise.all([1, 2, 3].map(() => tx.enrollment.create({ data: { ...base, status: 'ACTIVE' } })));
    await logRunChanges(tx, runs.map((r) => ({ ...base, id: r.id, previousStatus: null, status: 'ACTIVE' as const, reason: null, occurredAt: new Date() })));
  });
  const feed = changeFeed(t.prisma, { workspaceId: ws.workspaceId }, { position: 0n });
  const rows: FeedRow[] = [];
  for (let i = 0; i < 3; i++) rows.push((await feed.next()).value as FeedRow);
  await feed.return(undefined);
  const query = { include: { enrollment: { include: { subscriber: true } } } };
  statements.length = 0;
  // Thirty subscriptions, each resolving the three changes in its own macrotask (no same-tick batching to lean on).
  for (let s = 0; s < 30; s++) {
    for (const row of rows) {
      const change = (await loadChange(t.prisma, query, row)) as unknown as { enrollment: { subscriber: { email: string } } };
      expect(change.enrollment.subscriber.email).toBe('moments@out.test');
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  // One load of the three changes (the change, its run, the run's subscriber), whoever asked first.
  const loads = statements.filter((sql) => /"public"\."EnrollmentChange"/.test(sql));
  expect(loads).toHaveLength(1);
  expect(statements.length).toBeLessThanOrEqual(3);
  // Another selection is another load.
  await loadChange(t.prisma, { include: { enrollment: true } } as never, rows[0]!);
  expect(statements.filter((sql) => /"public"\."EnrollmentChange"/.test(sql))).toHaveLength(2);
});

it("answers a selection of the change's own fields from the feed's row, with no load", async () => {
  const ws = await t.workspace('own-fields');
  const sequence = await t.prisma.sequence.create({ data: { workspaceId: ws.workspaceId, slug: 'own', name: 'Own', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const subscriber = await t.prisma.subscriber.create({ data: { workspaceId: ws.workspaceId, email: 'own@out.test' } });
  const base = { workspaceId: ws.workspaceId, sequenceId: sequence.id, subscriberId: subscriber.id };
  await transaction(t.runtime, async (tx) => {
    const run = await tx.enrollment.create({ data: { ...base, status: 'ACTIVE' } });
    await logRunChanges(tx, [
      { ...base, id: run.id, previousStatus: null, status: 'ACTIVE', reason: null, occurredAt: new Date('2026-01-02T03:04:05.678Z') },
      { ...base, id: run.id, previousStatus: 'ACTIVE', status: 'PAUSED', reason: 'held', occurredAt: new Date('2026-01-02T03:04:06.789Z') },
    ]);
  });
  const feed = changeFeed(t.prisma, { workspaceId: ws.workspaceId }, { position: 0n });
  const rows: FeedRow[] = [];
  for (let i = 0; i < 2; i++) rows.push((await feed.next()).value as FeedRow);
  await feed.return(undefined);
  statements.length = 0;
  const loaded = [];
  for (const query of [{}, { select: { status: true, previousStatus: true, reason: true, occurredAt: true } }]) {
    for (const row of rows) loaded.push(await loadChange(t.prisma, query as never, row));
  }
  expect(statements).toEqual([]);
  // The same values as Prisma reads them.
  const stored = await t.prisma.enrollmentChange.findMany({ where: { workspaceId: ws.workspaceId }, orderBy: { id: 'asc' } });
  for (const [i, change] of loaded.entries()) {
    const { position: _position, batch: _batch, ...columns } = change as FeedRow;
    expect(columns).toEqual(stored[i % 2]);
  }
});

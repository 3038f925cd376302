// The test clock's own life: testClockChanged pushed over graphql-ws (ADVANCING,
// then READY at the target), a second advance while one runs extends it, and an
// advance whose process died is taken over once its lease lapsed.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { testWorkspace } from '../helpers/test-clock.js';
import { engineApi, email, DAY } from '../engine/support.js';
import { advanceTestClock } from '../../src/services/test-clock.js';

const t = await useTestEngine();
const T0 = new Date('2026-09-01T12:00:00.000Z');
const port = await t.app.start(0, '127.0.0.1');

function subscribe(key: string) {
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${key}` }, retryAttempts: 0 });
  afterAll(() => client.dispose());
  const seen: any[] = [];
  const errors: unknown[] = [];
  client.subscribe({ query: 'subscription { testClockChanged { frozenTime status advancingTo } }' }, {
    next: (r) => (r.errors ? errors.push(r.errors) : seen.push(r.data!.testClockChanged)),
    error: (e) => errors.push(e),
    complete: () => {},
  });
  return { seen, errors };
}

/** A test workspace with `runs` runs of a two-email sequence started at T0. */
async function withRuns(name: string, runs: number) {
  const ws = await testWorkspace(t, T0, name);
  const api = engineApi(t, ws as any);
  await api.sequence({ name, trigger: 'EVENT_RECEIVED', eventName: 'go', steps: [email('First'), email('Second', { days: 2 })] });
  for (let i = 0; i < runs; i++) await api.track({ event: 'go', email: `${name.toLowerCase()}${i}@example.com` });
  return ws;
}

const sentCount = (workspaceId: string) => t.prisma.message.count({ where: { workspaceId, status: 'SENT' } });

describe('test clock lifecycle', () => {
  it('testClockChanged pushes ADVANCING, then READY at the target; a live key is refused', async () => {
    const ws = await withRuns('Pushed', 2);
    const feed = subscribe(ws.key);
    const live = subscribe(ws.live.key);
    // The subscription is set up once a change wakes it: advance until it reports READY at the target.
    const target = new Date(T0.getTime() + 3 * DAY).toISOString();
    await t.until(async () => {
      if (!feed.seen.length) await ws.advance({ to: new Date(T0.getTime() + 1000 * (feed.seen.length + 1)).toISOString() });
      return feed.seen.length > 0;
    });
    expect((await ws.advance({ to: target })).testClock).toEqual({ frozenTime: target, status: 'READY', advancingTo: null });
    await t.until(async () => feed.seen.at(-1)?.frozenTime === target);
    expect(feed.seen.at(-1)).toEqual({ frozenTime: target, status: 'READY', advancingTo: null });
    expect(feed.seen).toContainEqual(expect.objectContaining({ status: 'ADVANCING', advancingTo: target }));
    // Every push moved forward.
    const times = feed.seen.map((c) => c.frozenTime);
    expect([...times].sort()).toEqual(times);
    await t.until(async () => live.errors.length > 0);
    expect(JSON.stringify(live.errors)).toContain('TEST_KEY_REQUIRED');
    expect(await sentCount(ws.workspaceId)).toBe(4);
  });

  it('enrollmentChanged subscribers of the test workspace see each change of an advance, at its virtual time', async () => {
    const ws = await testWorkspace(t, T0, 'Followed');
    const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${ws.key}` }, retryAttempts: 0 });
    afterAll(() => client.dispose());
    const changes: any[] = [];
    client.subscribe({ query: 'subscription { enrollmentChanged(after: "0") { status occurredAt enrollment { subscriber { email } } } }' }, {
      next: (r) => changes.push(r.data!.enrollmentChanged),
      error: () => {},
      complete: () => {},
    });
    const api = engineApi(t, ws as any);
    await api.sequence({ name: 'Followed', trigger: 'EVENT_RECEIVED', eventName: 'go', steps: [email('First'), email('Second', { days: 2 })] });
    await api.track({ event: 'go', email: 'followed@example.com' });
    await ws.advance({ by: 'P3D' });
    await t.until(async () => changes.length >= 2);
    expect(changes.map((c) => [c.status, c.occurredAt, c.enrollment.subscriber.email])).toEqual([
      ['ACTIVE', T0.toISOString(), 'followed@example.com'],
      ['COMPLETED', new Date(T0.getTime() + 2 * DAY).toISOString(), 'followed@example.com'],
    ]);
  });

  it('a second advance while one runs extends its target; `by` counts from that target', async () => {
    const ws = await withRuns('Extended', 3);
    // Both calls at once: the second finds the first ADVANCING (or already done) and goes on from its target.
    const [a, b] = await Promise.all([ws.advance({ by: 'P1D' }), ws.advance({ by: 'P1D' })]);
    expect([a.errors, b.errors]).toEqual([[], []]);
    const end = new Date(T0.getTime() + 2 * DAY).toISOString();
    await t.until(async () => (await ws.gql('{ testClock { frozenTime status } }')).data.testClock.status === 'READY');
    expect((await ws.gql('{ testClock { frozenTime status advancingTo } }')).data.testClock).toEqual({ frozenTime: end, status: 'READY', advancingTo: null });
    // Both emails of each run: the second was due at exactly two days.
    expect(await sentCount(ws.workspaceId)).toBe(6);
  });

  it('an advance left ADVANCING by a process that died is resumed by the next call once its lease lapsed', async () => {
    const ws = await withRuns('Crashed', 2);
    const target = new Date(T0.getTime() + 5 * DAY);
    // As a crash leaves it: ADVANCING to its target, the lease of a runner that is gone.
    const dead = '00000000-0000-4000-8000-000000000000';
    await t.prisma.workspace.update({
      where: { id: ws.workspaceId },
      data: { testClockStatus: 'ADVANCING', testClockTarget: target, testClockRunner: dead, testClockLeaseUntil: new Date(Date.now() + 60_000) },
    });
    // While the lease holds, nobody else works it: the call answers ADVANCING (it waited, no work was done).
    const held = await advanceTestClock({ workspaceId: ws.workspaceId, runtime: t.runtime }, { to: target }, { waitMs: 300 });
    expect(held).toMatchObject({ status: 'ADVANCING', frozenTime: T0, advancingTo: target });
    expect(await sentCount(ws.workspaceId)).toBe(0);
    // The lease lapses (30 s after the crash): the next call takes the advance over and finishes it.
    await t.prisma.$executeRaw`UPDATE "Workspace" SET "testClockLeaseUntil" = now() - interval '1 second' WHERE id = ${ws.workspaceId}::uuid`;
    const resumed = await ws.advance({ to: target.toISOString() });
    expect(resumed.testClock).toEqual({ frozenTime: target.toISOString(), status: 'READY', advancingTo: null });
    expect(await sentCount(ws.workspaceId)).toBe(4);
    const row = await t.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } });
    expect([row.testClockRunner, row.testClockLeaseUntil, row.testClockTarget]).toEqual([null, null, null]);
  });
});

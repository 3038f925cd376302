// advanceTestClock through the GraphQL API: a test workspace's runs move only
// with its clock, on virtual time, through the real engine; live work is untouched.
import { describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { drained } from '../helpers/jobs.js';
import { testWorkspace } from '../helpers/test-clock.js';
import { releaseQueued } from '../../src/engine/release-queued.js';
import { sweepInactivity } from '../../src/engine/inactivity.js';
import { engineApi, email, HOUR, DAY } from '../engine/support.js';

const t = await useTestEngine();
const T0 = new Date('2026-05-04T09:00:00.000Z');

const MESSAGES = `query { messages(first: 50) { edges { node { subject to status sentAt } } } }`;

async function sentAt(ws: { gql: (q: string) => Promise<any> }) {
  const res = await ws.gql(MESSAGES);
  expect(res.errors).toBeUndefined();
  return (res.data.messages.edges as { node: { subject: string; status: string; sentAt: string } }[])
    .map((e) => e.node)
    .sort((a, b) => a.sentAt.localeCompare(b.sentAt));
}

describe('advanceTestClock', () => {
  it('runs a test workspace’s steps on its clock, at virtual times, and nothing before', async () => {
    const ws = await testWorkspace(t, T0);
    const api = engineApi(t, ws as any);
    const sequence = await api.sequence({
      name: 'Onboarding', trigger: 'EVENT_RECEIVED', eventName: 'signed_up',
      steps: [email('Welcome'), email('Tips', { hours: 2 }), email('Check-in', { days: 3 })],
    });
    const { enrollments } = await api.track({ event: 'signed_up', email: 'ada@example.com' });
    const runId = enrollments[0]!.id;
    expect(new Date(enrollments[0]!.startedAt).getTime()).toBe(T0.getTime());
    // Nothing runs on wall time: the live workers drain without touching it.
    await drained(t.prisma);
    expect(await sentAt(ws)).toEqual([]);
    expect(await t.prisma.testClockJob.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);

    const first = await ws.advance({ by: 'PT1H' });
    expect(first.errors).toEqual([]);
    expect(first.testClock).toEqual({ frozenTime: '2026-05-04T10:00:00.000Z', status: 'READY', advancingTo: null });
    expect((await sentAt(ws)).map((m) => [m.subject, m.sentAt])).toEqual([['Welcome', T0.toISOString()]]);

    const done = await ws.advance({ by: 'P14D' });
    expect(done.testClock).toEqual({ frozenTime: new Date(T0.getTime() + HOUR + 14 * DAY).toISOString(), status: 'READY', advancingTo: null });
    const messages = await sentAt(ws);
    expect(messages.map((m) => [m.subject, m.status, m.sentAt])).toEqual([
      ['Welcome', 'SENT', T0.toISOString()],
      ['Tips', 'SENT', new Date(T0.getTime() + 2 * HOUR).toISOString()],
      ['Check-in', 'SENT', new Date(T0.getTime() + 2 * HOUR + 3 * DAY).toISOString()],
    ]);
    const run = await api.run(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.completedAt).toBe(new Date(T0.getTime() + 2 * HOUR + 3 * DAY).toISOString());
    expect(run.history.map((h) => h.executedAt)).toEqual(messages.map((m) => m.sentAt));
    const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: { in: (await t.prisma.enrollment.findMany({ where: { workspaceId: ws.workspaceId }, select: { id: true } })).map((e) => e.id) }, workspaceId: ws.workspaceId }, orderBy: { id: 'asc' } });
    expect(changes.map((c) => [c.status, c.occurredAt.toISOString()])).toEqual([
      ['ACTIVE', T0.toISOString()],
      ['COMPLETED', run.completedAt],
    ]);
    const stored = await t.prisma.message.findMany({ where: { workspaceId: ws.workspaceId } });
    expect(stored.every((m) => m.createdAt.getTime() === m.sentAt!.getTime())).toBe(true);
    // Captured, not relayed.
    expect(api.mailTo('ada@example.com')).toEqual([]);
    expect(await t.prisma.testClockJob.count({ where: { workspaceId: ws.workspaceId } })).toBe(0);
    void sequence;
  });

  it('is refused for a live key, goes forward only, and is idempotent', async () => {
    const live = await t.workspace('live only');
    const refused = await live.gql(`mutation { advanceTestClock(by: "P1D") { testClock { status } errors { field code } } }`);
    expect(refused.data.advanceTestClock).toEqual({ testClock: null, errors: [{ field: null, code: 'TEST_KEY_REQUIRED' }] });

    const ws = await testWorkspace(t, T0, 'idempotent');
    const again = await ws.advance({ to: T0.toISOString() });
    expect(again).toEqual({ testClock: { frozenTime: T0.toISOString(), status: 'READY', advancingTo: null }, errors: [] });
    const back = await ws.advance({ to: new Date(T0.getTime() - 1000).toISOString() });
    expect(back.errors).toEqual([{ field: ['to'], code: 'CLOCK_BACKWARDS', message: expect.stringContaining(T0.toISOString()) }]);
    expect((await ws.advance({ by: '-P1D' })).errors[0]).toMatchObject({ field: ['by'], code: 'INVALID_DURATION' });
    expect((await ws.advance({ by: 'P1D', to: T0.toISOString() })).errors[0]).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await ws.advance({})).errors[0]).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await ws.advance({ by: 'P3Y' })).errors[0]).toMatchObject({ field: ['by'], code: 'CLOCK_TOO_FAR' });
    expect(await ws.frozen()).toEqual(T0);
    const to = new Date(T0.getTime() + DAY).toISOString();
    expect((await ws.advance({ to })).testClock).toEqual({ frozenTime: to, status: 'READY', advancingTo: null });
    expect((await ws.advance({ to })).testClock).toEqual({ frozenTime: to, status: 'READY', advancingTo: null });
  });

  it('leaves live workspaces on wall time: a live run’s due step is sent by the live worker while a test clock advances 90 days', async () => {
    const live = await t.workspace('live runner');
    const liveApi = engineApi(t, live);
    await liveApi.sequence({
      name: 'Live', trigger: 'EVENT_RECEIVED', eventName: 'go',
      steps: [email('Live now'), email('Live later', { hours: 1 })],
    });
    const { enrollments } = await liveApi.track({ event: 'go', email: 'live@example.com' });
    await liveApi.waitForMail('live@example.com', 1);

    const ws = await testWorkspace(t, T0, 'ninety days');
    const api = engineApi(t, ws as any);
    await api.sequence({ name: 'Test', trigger: 'EVENT_RECEIVED', eventName: 'go', steps: [email('T1'), email('T2', { days: 30 }), email('T3', { days: 30 })] });
    await api.track({ event: 'go', email: 'test@example.com' });
    expect((await ws.advance({ by: 'P90D' })).testClock?.status).toBe('READY');
    expect((await sentAt(ws)).map((m) => m.subject)).toEqual(['T1', 'T2', 'T3']);

    // The live run still waits for its hour, on the live clock.
    const waiting = await liveApi.run(enrollments[0]!.id);
    expect(waiting.status).toBe('ACTIVE');
    expect(liveApi.mailTo('live@example.com')).toHaveLength(1);
    await t.advance(HOUR);
    await liveApi.waitForMail('live@example.com', 2);
    expect((await liveApi.runWithStatus(enrollments[0]!.id, 'COMPLETED')).history).toHaveLength(2);
    expect(api.mailTo('test@example.com')).toEqual([]);
  });
});

describe('advanceTestClock and INACTIVITY', () => {
  it('starts a run when the subscriber becomes inactive on the test clock, once per stretch', async () => {
    const ws = await testWorkspace(t, T0, 'inactive');
    const api = engineApi(t, ws as any);
    await api.sequence({ name: 'Win back', trigger: 'INACTIVITY', inactiveDays: 3, eventName: 'login', steps: [email('We miss you')] });
    await api.track({ event: 'login', email: 'idle@example.com' });
    // Active again two days later: inactive from then on.
    await ws.advance({ by: 'P2D' });
    await api.track({ event: 'login', email: 'idle@example.com' });
    expect((await ws.advance({ by: 'P10D' })).testClock?.status).toBe('READY');
    const messages = await sentAt(ws);
    expect(messages.map((m) => [m.subject, m.sentAt])).toEqual([['We miss you', new Date(T0.getTime() + 5 * DAY + 1).toISOString()]]);
  });
});

describe('the live schedules leave test workspaces to their clocks', () => {
  it('the day roll-over release and the inactivity sweep on wall time start nothing in a test workspace', async () => {
    const ws = await testWorkspace(t, T0, 'scheduled');
    const api = engineApi(t, ws as any);
    const throttled = await api.sequence({ name: 'Throttled', trigger: 'EVENT_RECEIVED', eventName: 'join', throttleMaxAddsPerDay: 1, steps: [email('Hi')] });
    await api.sequence({ name: 'Idle', trigger: 'INACTIVITY', inactiveDays: 1, steps: [email('Still there?')] });
    await api.track({ event: 'join', email: 'a@example.com' });
    const queued = (await api.track({ event: 'join', email: 'b@example.com' })).enrollments[0]!;
    expect(queued.status).toBe('QUEUED');
    // On wall time (months after T0) a live release would start the queued run and the sweep would find both idle.
    expect(await releaseQueued(t.runtime)).toBe(0);
    expect(await sweepInactivity(t.runtime)).toBe(0);
    expect((await api.run(queued.id)).status).toBe('QUEUED');
    expect((await api.runs(throttled)).map((r) => r.status).sort()).toEqual(['ACTIVE', 'QUEUED']);
    // Its own clock does both: the release at midnight UTC, the idle runs a day after the last activity.
    await ws.advance({ by: 'P2D' });
    expect((await api.run(queued.id)).status).toBe('COMPLETED');
    expect((await sentAt(ws)).map((m) => m.subject).sort()).toEqual(['Hi', 'Hi', 'Still there?', 'Still there?']);
  });
});

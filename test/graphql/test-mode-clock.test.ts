// A test key's writes carry its workspace's test clock: subscribers, events,
// runs and their change-log entries are stamped with the frozen time, read
// afresh for each request (an advance moves it between two requests), while the
// live key's writes keep real time. Delivery feedback sent with a test key, and
// opens of a test message, too.
// (Captured messages: test/engine/test-mode-mail.test.ts.)
import { describe, expect, it } from 'vitest';
import { parseId } from '../../src/domain/public-id.js';
import { useTestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait-for.js';

const t = await useTestApp();

const live = await t.workspace('Clocked');
const test = await t.testWorkspace(live);

/** Advances the twin's clock to `at` (nothing falls due meanwhile but the run's delayed step, which stays ahead). */
async function setTestClock(at: string) {
  const res = await test.gql(`mutation($to: DateTime!) { advanceTestClock(to: $to) { testClock { frozenTime status } errors { code message } } }`, { to: at });
  expect(res.data.advanceTestClock).toEqual({ testClock: { frozenTime: at, status: 'READY' }, errors: [] });
}

const inDays = (days: number, hour: string) => `${new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)}T${hour}`;
const T1 = inDays(30, '09:30:00.000Z');
const T2 = inDays(34, '00:00:00.000Z');
const T1_PLUS_3D = new Date(new Date(T1).getTime() + 3 * 86_400_000).toISOString();

/** Writes one of everything with `ws` and returns the times they were stamped with. */
async function writeAll(ws: typeof live, email: string) {
  const res = await ws.gql(`mutation {
    u: upsertSubscriber(input: { email: "${email}" }) { subscriber { id createdAt } errors { code } }
    q: createSequence(input: { name: "Clocked ${email}", trigger: EVENT_RECEIVED, eventName: "signed_up",
      steps: [{ subject: "Later", delay: { days: 3 }, blocks: [{ type: "text", text: "x" }] }] }) { sequence { id } errors { code } }
  }`);
  expect(res.errors).toBeUndefined();
  const sequenceId = res.data.q.sequence.id;
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: sequenceId });
  const tracked = await ws.gql(`mutation { trackEvent(input: { email: "${email}", event: "signed_up" }) {
    event { id occurredAt } enrollments { id startedAt nextTriggerAt } errors { code message } } }`);
  expect(tracked.data.trackEvent.errors).toEqual([]);
  const run = tracked.data.trackEvent.enrollments[0];
  const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: parseId(run.id)!.uuid } });
  const subscriber = await ws.gql(`query($id: ID!) { subscriber(id: $id) { createdAt } }`, { id: res.data.u.subscriber.id });
  return {
    subscriberCreatedAt: subscriber.data.subscriber.createdAt as string,
    eventOccurredAt: tracked.data.trackEvent.event.occurredAt as string,
    runStartedAt: run.startedAt as string,
    firstStepDueAt: run.nextTriggerAt as string,
    changeLog: changes.map((c) => c.occurredAt.toISOString()),
  };
}

describe('writes through a test key', () => {
  it('carry the test clock, read for each request; the live key keeps real time', async () => {
    await setTestClock(T1);
    expect(await writeAll(test, 'ada@clock.test')).toEqual({
      subscriberCreatedAt: T1,
      eventOccurredAt: T1,
      runStartedAt: T1,
      firstStepDueAt: T1_PLUS_3D,
      changeLog: [T1],
    });

    // The clock moved (as an advance moves it): the next request writes at the new time.
    await setTestClock(T2);
    const later = await test.gql(`mutation { trackEvent(input: { email: "ada@clock.test", event: "seen" }) { event { occurredAt } } }`);
    expect(later.data.trackEvent.event.occurredAt).toBe(T2);
    // The advance sent the run's delayed email at its moment on the test clock.
    const sent = await test.gql(`{ messages { edges { node { subject status sentAt } } } }`);
    expect(sent.data.messages.edges).toEqual([{ node: { subject: 'Later', status: 'SENT', sentAt: T1_PLUS_3D } }]);

    // Delivery feedback sent with the test key is recorded at the test clock's time too.
    const port = await t.app.start(0);
    const message = await t.prisma.message.findFirstOrThrow({ where: { workspaceId: test.workspaceId } });
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/delivery`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${test.key}` },
      body: JSON.stringify({ type: 'bounce', messageId: message.smtpMessageId, bounceType: 'hard' }),
    });
    expect(((await response.json()) as { results: { outcome: string }[] }).results[0]!.outcome).toBe('recorded');
    const bounced = await t.prisma.message.findUniqueOrThrow({ where: { id: message.id }, include: { subscriber: true } });
    expect([bounced.bouncedAt?.toISOString(), bounced.subscriber?.bouncedAt?.toISOString()]).toEqual([T2, T2]);

    // So is an open of the test message (its pixel's link names the test workspace).
    const pixel = /https?:\/\/[^/"]+(\/t\/o\/[^"]+\.gif)/.exec(message.html)?.[1];
    expect(pixel).toBeDefined();
    expect((await fetch(`http://127.0.0.1:${port}${pixel}`)).status).toBe(200);
    const opened = await waitFor(() => t.prisma.message.findFirst({ where: { id: message.id, openedAt: { not: null } } }), { message: 'the open recorded' });
    expect(opened.openedAt!.toISOString()).toBe(T2);

    const before = Date.now();
    const real = await writeAll(live, 'ada@clock.test');
    const after = Date.now();
    for (const at of [real.subscriberCreatedAt, real.eventOccurredAt, real.runStartedAt, ...real.changeLog]) {
      expect(new Date(at).getTime()).toBeGreaterThanOrEqual(before);
      expect(new Date(at).getTime()).toBeLessThanOrEqual(after);
    }
  });
});

// Enrollment modes (UNLIMITED, ONE_TIME, MATCHING_FIELD), idempotent starts, and
// runs started or ended by hand (enrollSubscriber, removeSubscriberFromSequence).
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { DAY, advanceAndSettle, email, engineApi, settle } from './support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  api = engineApi(t, await t.workspace());
});

/** Two emails a day apart: the run stays ACTIVE for a day after it starts. */
const twoEmails = (name: string) => [email(`${name} 1`), email(`${name} 2`, { days: 1 })];

describe('UNLIMITED', () => {
  it('starts a new run for every trigger, even while earlier runs are active', async () => {
    const seq = await api.sequence({ name: 'Unlimited', trigger: 'EVENT_RECEIVED', eventName: 'unl.ping', steps: twoEmails('Unlimited') });
    for (let i = 0; i < 3; i++) expect((await api.track({ email: 'una@modes.test', event: 'unl.ping', properties: { i } })).enrollments).toHaveLength(1);
    const runs = await api.runs(seq);
    expect(runs.map((r) => [r.status, r.entryEvent.i])).toEqual([
      ['ACTIVE', 0],
      ['ACTIVE', 1],
      ['ACTIVE', 2],
    ]);
  });
});

describe('ONE_TIME', () => {
  it('never starts a second run for the same subscriber, even after the first ended', async () => {
    const seq = await api.sequence({
      name: 'Once',
      trigger: 'EVENT_RECEIVED',
      eventName: 'once.ping',
      enrollmentMode: 'ONE_TIME',
      steps: [email('Only once')],
    });
    const first = await api.track({ email: 'ola@modes.test', event: 'once.ping' });
    expect(first.enrollments).toHaveLength(1);
    // While the first run is active.
    expect((await api.track({ email: 'ola@modes.test', event: 'once.ping' })).enrollments).toEqual([]);
    // After it completed.
    await api.runWithStatus(first.enrollments[0]!.id, 'COMPLETED');
    expect((await api.track({ email: 'ola@modes.test', event: 'once.ping' })).enrollments).toEqual([]);

    // By hand it is refused with a reason, and nothing is written.
    const changes = await t.prisma.enrollmentChange.count();
    const refused = await api.enrollRaw({ sequenceId: seq, subscriber: { email: 'ola@modes.test', firstName: 'Changed' } });
    expect(refused.enrollment).toBeNull();
    expect(refused.errors).toEqual([{ field: ['input', 'sequenceId'], message: expect.stringMatching(/one-time/i), code: 'ONE_TIME' }]);
    expect(await t.prisma.enrollmentChange.count()).toBe(changes);
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'ola@modes.test' } })).firstName).toBeNull();

    // Another subscriber runs it once too.
    expect((await api.track({ email: 'oto@modes.test', event: 'once.ping' })).enrollments).toHaveLength(1);
    expect((await api.runs(seq)).map((r) => r.subscriber.email).sort()).toEqual(['ola@modes.test', 'oto@modes.test']);
    await settle(t);
    expect(api.mailTo('ola@modes.test').map((m) => m.subject)).toEqual(['Only once']);
  });
});

describe('MATCHING_FIELD', () => {
  it('allows one active run per enrollment key; a duplicate starts nothing until the first ends', async () => {
    const seq = await api.sequence({
      name: 'Per order',
      trigger: 'EVENT_RECEIVED',
      eventName: 'order.placed',
      enrollmentMode: 'MATCHING_FIELD',
      enrollmentFieldPath: 'order.id',
      steps: [email('Order {{event.order.id}} received'), email('Order {{event.order.id}} follow-up', { days: 1 })],
    });
    const track = (properties: Record<string, unknown>) => api.track({ email: 'max@modes.test', event: 'order.placed', properties });

    const a = await track({ order: { id: 'A-1' } });
    expect(a.enrollments.map((r) => [r.status, r.enrollmentKey])).toEqual([['ACTIVE', 'event:order.placed:field:order.id:A-1']]);
    // The same order again while its run is active: nothing starts.
    expect((await track({ order: { id: 'A-1' }, note: 'retry' })).enrollments).toEqual([]);
    // Another order is another key.
    const b = await track({ order: { id: 'B-2' } });
    expect(b.enrollments.map((r) => r.enrollmentKey)).toEqual(['event:order.placed:field:order.id:B-2']);
    // Numbers are keys too.
    const n = await track({ order: { id: 42 } });
    expect(n.enrollments.map((r) => r.enrollmentKey)).toEqual(['event:order.placed:field:order.id:42']);
    // No value at the path: no key, no run.
    expect((await track({ order: {} })).enrollments).toEqual([]);
    expect((await track({})).enrollments).toEqual([]);

    // properties.enrollmentKey overrides the path; properties.sequenceEnrollmentKey overrides both.
    const e = await track({ order: { id: 'C-3' }, enrollmentKey: 'cart-7' });
    expect(e.enrollments.map((r) => r.enrollmentKey)).toEqual(['event:order.placed:field:enrollmentKey:cart-7']);
    expect((await track({ order: { id: 'D-4' }, enrollmentKey: 'cart-7' })).enrollments).toEqual([]);
    const s = await track({ order: { id: 'C-3' }, enrollmentKey: 'cart-7', sequenceEnrollmentKey: 'S-9' });
    expect(s.enrollments.map((r) => r.enrollmentKey)).toEqual(['event:order.placed:field:sequenceEnrollmentKey:S-9']);
    expect((await track({ sequenceEnrollmentKey: 'S-9', enrollmentKey: 'other' })).enrollments).toEqual([]);

    expect((await api.runs(seq)).filter((r) => r.status === 'ACTIVE')).toHaveLength(5);

    // Once the A-1 run has ended, A-1 may start again.
    await advanceAndSettle(t, DAY + 60_000);
    const ended = await api.runWithStatus(a.enrollments[0]!.id, 'COMPLETED');
    expect(ended.history.map((h) => h.message?.subject)).toEqual(['Order A-1 received', 'Order A-1 follow-up']);
    const again = await track({ order: { id: 'A-1' } });
    expect(again.enrollments.map((r) => [r.status, r.enrollmentKey])).toEqual([['ACTIVE', 'event:order.placed:field:order.id:A-1']]);
    expect(again.enrollments[0]!.id).not.toBe(a.enrollments[0]!.id);

    // A run cancelled by hand frees its key as well.
    const removed = await api.remove({ sequenceId: seq, email: 'max@modes.test' });
    expect(removed.errors).toEqual([]);
    expect((await track({ order: { id: 'A-1' } })).enrollments).toHaveLength(1);
  });
});

describe('idempotency keys', () => {
  it('never duplicates runs for one key, even when the same call arrives concurrently', async () => {
    const seq = await api.sequence({ name: 'Idem', trigger: 'EVENT_RECEIVED', eventName: 'idem.ping', steps: twoEmails('Idem') });
    const input = { email: 'ida@modes.test', event: 'idem.ping', properties: { n: 1 }, idempotencyKey: 'idem-ida-1' };
    // The subscriber exists first, so the concurrent calls compete only on the key.
    await api.subscriber({ email: 'ida@modes.test' });
    const results = await Promise.all(Array.from({ length: 5 }, () => api.trackRaw(input)));
    for (const r of results) expect(r.errors).toEqual([]);
    expect(new Set(results.map((r) => r.event.id)).size).toBe(1);
    expect(new Set(results.flatMap((r) => r.enrollments.map((e: { id: string }) => e.id))).size).toBe(1);
    expect(await t.prisma.event.count({ where: { idempotencyKey: 'idem-ida-1' } })).toBe(1);
    expect(await api.runs(seq)).toHaveLength(1);
    await settle(t);
    expect(api.mailTo('ida@modes.test').map((m) => m.subject)).toEqual(['Idem 1']);
  });

  it('concurrent calls with one key for a new email: one subscriber, one event, one run', async () => {
    const seq = await api.sequence({ name: 'Idem new', trigger: 'EVENT_RECEIVED', eventName: 'idem.new', steps: twoEmails('Idem new') });
    const input = { email: 'ivy@modes.test', event: 'idem.new', properties: { n: 2 }, idempotencyKey: 'idem-ivy-1' };
    const results = await Promise.all(Array.from({ length: 5 }, () => api.trackRaw(input)));
    for (const r of results) expect(r.errors).toEqual([]);
    expect(new Set(results.flatMap((r) => r.enrollments.map((e: { id: string }) => e.id))).size).toBe(1);
    expect(await t.prisma.subscriber.count({ where: { email: 'ivy@modes.test' } })).toBe(1);
    expect(await t.prisma.event.count({ where: { idempotencyKey: 'idem-ivy-1' } })).toBe(1);
    expect(await api.runs(seq)).toHaveLength(1);
  });

  it('enrollSubscriber called concurrently with one key starts one run', async () => {
    const seq = await api.sequence({ name: 'Idem manual', trigger: 'MANUAL', steps: twoEmails('Idem manual') });
    const input = { sequenceId: seq, subscriber: { email: 'ike@modes.test' }, properties: { n: 3 }, idempotencyKey: 'idem-ike-1' };
    const results = await Promise.all(Array.from({ length: 5 }, () => api.enrollRaw(input)));
    for (const r of results) expect(r.errors).toEqual([]);
    expect(new Set(results.map((r) => r.enrollment.id)).size).toBe(1);
    expect(await t.prisma.subscriber.count({ where: { email: 'ike@modes.test' } })).toBe(1);
    expect(await api.runs(seq)).toHaveLength(1);
    await settle(t);
    expect(api.mailTo('ike@modes.test').map((m) => m.subject)).toEqual(['Idem manual 1']);
  });
});

describe('enrollSubscriber', () => {
  it('creates the subscriber for a new email, keeps properties as the entry event, and honours the idempotency key', async () => {
    const seq = await api.sequence({
      name: 'Manual',
      trigger: 'MANUAL',
      steps: [email('Hi {{subscriber.firstName}}, your coupon for {{event.product}}'), email('Reminder about {{event.product}}', { days: 2 })],
    });
    expect(await t.prisma.subscriber.count({ where: { email: 'nia@modes.test' } })).toBe(0);
    const input = {
      sequenceId: seq,
      subscriber: { email: 'Nia@Modes.test', firstName: 'Nia', attributes: { plan: 'trial' }, tags: ['lead'] },
      properties: { product: 'Espresso' },
      idempotencyKey: 'enroll-nia-1',
    };
    const run = await api.enroll(input);
    expect(run).toMatchObject({
      status: 'ACTIVE',
      entryEvent: { product: 'Espresso' },
      idempotencyKey: 'enroll-nia-1',
      currentStepPosition: 1,
      subscriber: { email: 'nia@modes.test' },
    });
    const subscriber = await api.ws.gql(`{ subscriber(email: "nia@modes.test") { id firstName attributes tags } }`);
    expect(subscriber.data.subscriber).toMatchObject({ id: run.subscriber.id, firstName: 'Nia', attributes: { plan: 'trial' }, tags: ['lead'] });
    const [mail] = await api.waitForMail('nia@modes.test', 1);
    expect(mail!.subject).toBe('Hi Nia, your coupon for Espresso');

    // The same key and data: the same run, not a second one.
    const again = await api.enroll(input);
    expect(again.id).toBe(run.id);
    expect(await api.runs(seq)).toHaveLength(1);

    // Without a key an existing subscriber gets another run (UNLIMITED), with its own entry event.
    const second = await api.enroll({ sequenceId: seq, subscriber: { email: 'nia@modes.test' }, properties: { product: 'Tea' } });
    expect(second.id).not.toBe(run.id);
    expect(second.entryEvent).toEqual({ product: 'Tea' });
    expect(await t.prisma.subscriber.count({ where: { email: 'nia@modes.test' } })).toBe(1);
  });
});

describe('removeSubscriberFromSequence', () => {
  it('cancels the active run by email; it sends nothing more', async () => {
    const seq = await api.sequence({ name: 'Removable', trigger: 'EVENT_RECEIVED', eventName: 'rm.start', steps: twoEmails('Removable') });
    const started = await api.track({ email: 'rex@modes.test', event: 'rm.start' });
    const runId = started.enrollments[0]!.id;
    await api.waitForMail('rex@modes.test', 1);
    await api.runWhere(runId, (r) => r.currentStepPosition === 2);

    const removed = await api.remove({ sequenceId: seq, email: 'REX@modes.test' });
    expect(removed.errors).toEqual([]);
    expect(removed.enrollment).toMatchObject({ id: runId, status: 'CANCELLED', cancelReason: 'removed from sequence', nextTriggerAt: null });
    expect(removed.enrollment.cancelledAt).not.toBeNull();

    await advanceAndSettle(t, 2 * DAY);
    expect(api.mailTo('rex@modes.test').map((m) => m.subject)).toEqual(['Removable 1']);
    const run = await api.run(runId);
    expect(run.status).toBe('CANCELLED');
    expect(run.history.map((h) => [h.step.position, h.status])).toEqual([[1, 'SENT']]);

    // Nothing left to remove.
    const none = await api.remove({ sequenceId: seq, email: 'rex@modes.test' });
    expect(none.enrollment).toBeNull();
    expect(none.errors).toEqual([{ field: ['input', 'email'], message: expect.stringContaining('no active run'), code: 'NOT_FOUND' }]);
  });
});

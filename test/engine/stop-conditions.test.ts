// Stop conditions end a subscriber's open runs (STOPPED, with the reason) when
// they come true; facts that do not meet them leave the runs alone.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { DAY, advanceAndSettle, email, engineApi, settle } from './support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
let lists: { target: string; other: string };
beforeAll(async () => {
  api = engineApi(t, await t.workspace());
  lists = { target: await api.list('Customers'), other: await api.list('Newsletter') };
});

interface Case {
  type: string;
  value: () => string;
  /** Puts the subscriber in the starting position (e.g. tagged, on the list). */
  before?: (subscriberId: string) => Promise<unknown>;
  /** Facts that do not meet the condition. */
  miss: (subscriberId: string) => Promise<unknown>;
  /** The fact that meets it. */
  hit: (subscriberId: string) => Promise<unknown>;
  reason: () => RegExp;
}

const cases: Case[] = [
  {
    type: 'HAS_TAG',
    value: () => 'customer',
    miss: async (id) => {
      await api.addTag(id, 'customer-lead');
      await api.removeTag(id, 'customer'); // removing a tag it does not have
    },
    hit: (id) => api.addTag(id, 'customer'),
    reason: () => /^stop condition HAS_TAG: tag customer added$/,
  },
  {
    type: 'DOES_NOT_HAVE_TAG',
    value: () => 'trial',
    before: (id) => api.addTag(id, 'trial'),
    miss: async (id) => {
      await api.addTag(id, 'other');
      await api.removeTag(id, 'other');
      await api.addTag(id, 'trial'); // already there
    },
    hit: (id) => api.removeTag(id, 'trial'),
    reason: () => /^stop condition DOES_NOT_HAVE_TAG: tag trial removed$/,
  },
  {
    type: 'EVENT_RECEIVED',
    value: () => 'order.placed',
    miss: async (id) => {
      await api.track({ subscriberId: id, event: 'order.viewed' });
      await api.track({ subscriberId: id, event: 'order.placed.v2' });
    },
    hit: (id) => api.track({ subscriberId: id, event: 'order.placed', properties: { total: 10 } }),
    reason: () => /^stop condition EVENT_RECEIVED: event order\.placed$/,
  },
  {
    type: 'ADDED_TO_LIST',
    value: () => lists.target,
    miss: (id) => api.addToList(id, lists.other),
    hit: (id) => api.addToList(id, lists.target),
    reason: () => /^stop condition ADDED_TO_LIST: added to list /,
  },
  {
    type: 'REMOVED_FROM_LIST',
    value: () => lists.target,
    before: async (id) => {
      await api.addToList(id, lists.target);
      await api.addToList(id, lists.other);
    },
    miss: (id) => api.removeFromList(id, lists.other),
    hit: (id) => api.removeFromList(id, lists.target),
    reason: () => /^stop condition REMOVED_FROM_LIST: removed from list /,
  },
];

describe.each(cases)('stop condition $type', (c) => {
  it('stops the open run when it comes true, and only then; the run sends nothing more', async () => {
    const slug = c.type.toLowerCase();
    const event = `start.${slug}`;
    const seq = await api.sequence({
      name: `Stop on ${c.type}`,
      trigger: 'EVENT_RECEIVED',
      eventName: event,
      stopCondition: { type: c.type, value: c.value() },
      steps: [email(`${c.type} 1`), email(`${c.type} 2`, { days: 1 })],
    });
    const who = `${slug.replace(/_/g, '-')}@stop.test`;
    const bystander = `bystander-${slug.replace(/_/g, '-')}@stop.test`;
    const subscriber = await api.subscriber({ email: who });
    const other = await api.subscriber({ email: bystander });
    await c.before?.(subscriber);
    await c.before?.(other);

    const [run] = (await api.track({ subscriberId: subscriber, event })).enrollments;
    const [otherRun] = (await api.track({ subscriberId: other, event })).enrollments;
    await api.waitForMail(who, 1);
    await api.runWhere(run!.id, (r) => r.currentStepPosition === 2);

    await c.miss(subscriber);
    await settle(t);
    expect((await api.run(run!.id)).status).toBe('ACTIVE');

    await c.hit(subscriber);
    const stopped = await api.run(run!.id);
    expect(stopped.status).toBe('STOPPED');
    expect(stopped.cancelReason).toMatch(c.reason());
    expect(stopped.cancelledAt).not.toBeNull();
    expect(stopped.nextTriggerAt).toBeNull();
    const change = await t.prisma.enrollmentChange.findFirst({ where: { status: 'STOPPED', subscriberId: { in: (await t.prisma.subscriber.findMany({ where: { email: who }, select: { id: true } })).map((s) => s.id) } } });
    expect(change).toMatchObject({ previousStatus: 'ACTIVE', status: 'STOPPED' });
    expect(change!.reason).toMatch(c.reason());
    // The other subscriber's run of the same sequence goes on.
    expect((await api.run(otherRun!.id)).status).toBe('ACTIVE');

    await advanceAndSettle(t, DAY + 60_000);
    expect(api.mailTo(who).map((m) => m.subject)).toEqual([`${c.type} 1`]);
    expect((await api.run(run!.id)).history.map((h) => [h.step.position, h.status])).toEqual([[1, 'SENT']]);
    expect((await api.run(run!.id)).status).toBe('STOPPED');
    const done = await api.runWithStatus(otherRun!.id, 'COMPLETED');
    expect(done.history.map((h) => h.message?.subject)).toEqual([`${c.type} 1`, `${c.type} 2`]);
    expect(await api.runs(seq)).toHaveLength(2);
  });
});

describe('stop conditions on runs that are not running', () => {
  it('stop paused and queued runs too; a run already ended is left as it was', async () => {
    const seq = await api.sequence({
      name: 'Stop any open run',
      trigger: 'EVENT_RECEIVED',
      eventName: 'open.start',
      stopCondition: { type: 'HAS_TAG', value: 'done' },
      throttleCapacity: 1,
      steps: [email('Open 1'), email('Open 2', { days: 1 })],
    });
    const paused = await api.subscriber({ email: 'paused@stop.test' });
    const queued = await api.subscriber({ email: 'queued@stop.test' });
    const [p] = (await api.track({ subscriberId: paused, event: 'open.start' })).enrollments;
    const [q] = (await api.track({ subscriberId: queued, event: 'open.start' })).enrollments;
    expect(q!.status).toBe('QUEUED'); // capacity 1 is taken by the first run
    await api.runWhere(p!.id, (r) => r.currentStepPosition === 2);
    expect((await api.pause(p!.id)).errors).toEqual([]);

    await api.addTag(paused, 'done');
    await api.addTag(queued, 'done');
    expect((await api.run(p!.id)).status).toBe('STOPPED');
    expect((await api.run(q!.id)).status).toBe('STOPPED');

    // A completed run stays COMPLETED.
    const finished = await api.subscriber({ email: 'finished@stop.test' });
    const [f] = (await api.track({ subscriberId: finished, event: 'open.start' })).enrollments;
    await advanceAndSettle(t, DAY + 60_000);
    await api.runWithStatus(f!.id, 'COMPLETED');
    await api.addTag(finished, 'done');
    expect((await api.run(f!.id)).status).toBe('COMPLETED');
    expect(await api.runs(seq)).toHaveLength(3);
  });
});

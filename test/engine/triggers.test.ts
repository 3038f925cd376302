// Triggers start runs of ACTIVE sequences only, exactly when their fact happens.
import { describe, expect, it } from 'vitest';
import { sweepInactivity } from '../../src/engine/inactivity.js';
import { useTestEngine } from '../helpers/engine.js';
import { DAY, email, engineApi, settle } from './support.js';

const t = await useTestEngine();

/** A fresh workspace with its API, so one suite's sequences never see another's subscribers. */
async function workspace() {
  return engineApi(t, await t.workspace());
}

/** An active sequence plus draft, paused and archived copies of it (which must start nothing). */
async function withInactiveCopies(api: Awaited<ReturnType<typeof workspace>>, input: Record<string, unknown>) {
  const active = await api.sequence({ ...input, name: `${input.name} (active)` });
  const draft = await api.sequence({ ...input, name: `${input.name} (draft)` }, { enable: false });
  const paused = await api.sequence({ ...input, name: `${input.name} (paused)` });
  await api.disable(paused);
  const archived = await api.sequence({ ...input, name: `${input.name} (archived)` });
  await api.archive(archived);
  return { active, inactive: [draft, paused, archived] };
}

async function expectNoRuns(api: Awaited<ReturnType<typeof workspace>>, sequenceIds: string[]) {
  for (const id of sequenceIds) expect(await api.runs(id), `runs of ${id}`).toEqual([]);
}

const emailsOf = (runs: { subscriber: { email: string } }[]) => runs.map((r) => r.subscriber.email);

describe('CONTACT_ADDED', () => {
  it('starts a run when a subscriber is created (upsert, trackEvent by email), not on updates; only ACTIVE sequences', async () => {
    const api = await workspace();
    const { active, inactive } = await withInactiveCopies(api, {
      name: 'Welcome',
      trigger: 'CONTACT_ADDED',
      steps: [email('Welcome aboard, {{subscriber.firstName|friend}}')],
    });

    await api.subscriber({ email: 'ada@contact.test', firstName: 'Ada' });
    expect(emailsOf(await api.runs(active))).toEqual(['ada@contact.test']);
    const [mail] = await api.waitForMail('ada@contact.test', 1);
    expect(mail!.subject).toBe('Welcome aboard, Ada');

    // Updating an existing subscriber (attributes, tags, name) is not "added".
    await api.subscriber({ email: 'ada@contact.test', lastName: 'Lovelace', attributes: { plan: 'pro' }, tags: ['x'] });
    expect(await api.runs(active)).toHaveLength(1);

    // trackEvent with a new email creates the subscriber, which fires the trigger; the payload lists the run.
    const tracked = await api.track({ email: 'bob@contact.test', event: 'visited' });
    expect(tracked.event.subscriber.email).toBe('bob@contact.test');
    expect(tracked.enrollments.map((r) => [r.subscriber.email, r.sequence.id])).toEqual([['bob@contact.test', active]]);
    // A second event for the (now existing) subscriber starts nothing.
    expect((await api.track({ email: 'bob@contact.test', event: 'visited' })).enrollments).toEqual([]);

    expect(emailsOf(await api.runs(active)).sort()).toEqual(['ada@contact.test', 'bob@contact.test']);
    await expectNoRuns(api, inactive);
  });

  it('with listId starts a run only when the subscriber is added to that list', async () => {
    const api = await workspace();
    const listA = await api.list('Newsletter');
    const listB = await api.list('Other');
    const { active, inactive } = await withInactiveCopies(api, {
      name: 'Newsletter welcome',
      trigger: 'CONTACT_ADDED',
      listId: listA,
      steps: [email('Thanks for joining the newsletter')],
    });

    const carol = await api.subscriber({ email: 'carol@list.test' });
    expect(await api.runs(active)).toEqual([]); // created, but not on the list
    await api.addToList(carol, listB);
    expect(await api.runs(active)).toEqual([]); // another list
    await api.addToList(carol, listA);
    expect(emailsOf(await api.runs(active))).toEqual(['carol@list.test']);
    await api.addToList(carol, listA); // already a member: not added again
    expect(await api.runs(active)).toHaveLength(1);

    // Created straight onto the list.
    await api.subscriber({ email: 'dave@list.test', listIds: [listA] });
    expect(emailsOf(await api.runs(active)).sort()).toEqual(['carol@list.test', 'dave@list.test']);
    await api.waitForMail('dave@list.test', 1);
    await expectNoRuns(api, inactive);
  });
});

describe('TAG_ADDED', () => {
  it('starts a run when that tag is added, not for other tags or a tag already there', async () => {
    const api = await workspace();
    const { active, inactive } = await withInactiveCopies(api, {
      name: 'VIP',
      trigger: 'TAG_ADDED',
      tagName: 'vip',
      steps: [email('You are a VIP')],
    });
    const erin = await api.subscriber({ email: 'erin@tag.test' });
    await api.addTag(erin, 'other');
    expect(await api.runs(active)).toEqual([]);
    await api.addTag(erin, 'vip');
    expect(emailsOf(await api.runs(active))).toEqual(['erin@tag.test']);
    await api.addTag(erin, 'vip'); // already tagged
    await api.subscriber({ email: 'erin@tag.test', tags: ['vip'] }); // still already tagged
    expect(await api.runs(active)).toHaveLength(1);

    // Removed and added again: added again (UNLIMITED mode starts another run).
    await api.removeTag(erin, 'vip');
    expect(await api.runs(active)).toHaveLength(1);
    await api.addTag(erin, 'vip');
    expect(await api.runs(active)).toHaveLength(2);

    // Tagged at creation through upsertSubscriber.
    await api.subscriber({ email: 'fay@tag.test', tags: ['vip', 'other'] });
    expect(emailsOf(await api.runs(active)).filter((e) => e === 'fay@tag.test')).toHaveLength(1);
    const [mail] = await api.waitForMail('fay@tag.test', 1);
    expect(mail!.subject).toBe('You are a VIP');
    await expectNoRuns(api, inactive);
  });
});

describe('SEGMENT_ENTERED', () => {
  it('starts a run when a subscriber comes to match (attribute, tag, list or event change), not while it keeps matching', async () => {
    const api = await workspace();
    const list = await api.list('Customers');
    const segments = {
      attribute: await api.segment('Pro plan', { match: 'all', conditions: [{ attribute: 'plan', op: 'eq', value: 'pro' }] }),
      tag: await api.segment('Churn risk', { match: 'all', conditions: [{ tag: 'churn-risk', op: 'has' }] }),
      list: await api.segment('Customers', { match: 'all', conditions: [{ list, op: 'in' }] }),
      event: await api.segment('Engaged', { match: 'all', conditions: [{ event: 'page.viewed', op: 'count_gte', value: 2 }] }),
    };
    const seq: Record<string, string> = {};
    const inactive: string[] = [];
    for (const [kind, segmentId] of Object.entries(segments)) {
      const copies = await withInactiveCopies(api, { name: `Entered ${kind}`, trigger: 'SEGMENT_ENTERED', segmentId, steps: [email(`Entered ${kind}`)] });
      seq[kind] = copies.active;
      inactive.push(...copies.inactive);
    }
    const counts = async () =>
      Object.fromEntries(await Promise.all(Object.entries(seq).map(async ([k, id]) => [k, (await api.runs(id)).length])));

    // Attribute: enters, stays (another attribute changes), leaves, enters again.
    const gus = await api.subscriber({ email: 'gus@segment.test', attributes: { plan: 'free' } });
    expect(await counts()).toEqual({ attribute: 0, tag: 0, list: 0, event: 0 });
    await api.subscriber({ email: 'gus@segment.test', attributes: { plan: 'pro' } });
    expect(await counts()).toEqual({ attribute: 1, tag: 0, list: 0, event: 0 });
    await api.subscriber({ email: 'gus@segment.test', attributes: { city: 'Oslo' } });
    await api.addTag(gus, 'unrelated');
    await api.track({ subscriberId: gus, event: 'other.event' });
    expect(await counts()).toEqual({ attribute: 1, tag: 0, list: 0, event: 0 });
    await api.subscriber({ email: 'gus@segment.test', attributes: { plan: 'free' } });
    expect(await counts()).toEqual({ attribute: 1, tag: 0, list: 0, event: 0 });
    await api.subscriber({ email: 'gus@segment.test', attributes: { plan: 'pro' } });
    expect(await counts()).toEqual({ attribute: 2, tag: 0, list: 0, event: 0 });

    // Tag.
    await api.addTag(gus, 'churn-risk');
    expect(await counts()).toEqual({ attribute: 2, tag: 1, list: 0, event: 0 });
    await api.addTag(gus, 'another');
    expect(await counts()).toEqual({ attribute: 2, tag: 1, list: 0, event: 0 });

    // List.
    await api.addToList(gus, list);
    expect(await counts()).toEqual({ attribute: 2, tag: 1, list: 1, event: 0 });

    // Event: the second page.viewed makes the count reach 2; the third keeps matching.
    await api.track({ subscriberId: gus, event: 'page.viewed' });
    expect(await counts()).toEqual({ attribute: 2, tag: 1, list: 1, event: 0 });
    const second = await api.track({ subscriberId: gus, event: 'page.viewed' });
    expect(second.enrollments.map((r) => r.sequence.id)).toEqual([seq.event]);
    await api.track({ subscriberId: gus, event: 'page.viewed' });
    expect(await counts()).toEqual({ attribute: 2, tag: 1, list: 1, event: 1 });

    // A new subscriber created already matching enters at once.
    await api.subscriber({ email: 'hal@segment.test', attributes: { plan: 'pro' }, tags: ['churn-risk'] });
    expect(await counts()).toEqual({ attribute: 3, tag: 2, list: 1, event: 1 });

    const mail = await api.waitForMail('gus@segment.test', 5);
    expect(mail.map((m) => m.subject).sort()).toEqual(['Entered attribute', 'Entered attribute', 'Entered event', 'Entered list', 'Entered tag']);
    await expectNoRuns(api, inactive);
  });
});

describe('EVENT_RECEIVED', () => {
  it('starts a run per matching event with its properties as entry event; other events start nothing', async () => {
    const api = await workspace();
    const { active, inactive } = await withInactiveCopies(api, {
      name: 'Order follow-up',
      trigger: 'EVENT_RECEIVED',
      eventName: 'order.placed',
      steps: [email('Your order to {{event.city}}')],
    });

    const other = await api.track({ email: 'ian@event.test', event: 'order.cancelled', properties: { city: 'Rome' } });
    expect(other.enrollments).toEqual([]);
    expect(await api.runs(active)).toEqual([]);

    const props = { city: 'Paris', order: { id: 'o-1', total: 42.5 }, items: [1, 2] };
    const placed = await api.track({ email: 'ian@event.test', event: 'order.placed', properties: props });
    expect(placed.enrollments).toHaveLength(1);
    expect(placed.enrollments[0]).toMatchObject({ entryEvent: props, sequence: { id: active } });
    expect(['ACTIVE', 'COMPLETED']).toContain(placed.enrollments[0]!.status); // one email: it may be done already
    const [mail] = await api.waitForMail('ian@event.test', 1);
    expect(mail!.subject).toBe('Your order to Paris');

    // By subscriber ID, a second matching event starts a second run (UNLIMITED).
    const ian = placed.event.subscriber.id;
    const again = await api.track({ subscriberId: ian, event: 'order.placed', properties: { city: 'Lyon' } });
    expect(again.enrollments.map((r) => r.entryEvent)).toEqual([{ city: 'Lyon' }]);
    expect(await api.runs(active)).toHaveLength(2);

    // Event names match exactly.
    expect((await api.track({ subscriberId: ian, event: 'Order.Placed' })).enrollments).toEqual([]);
    expect((await api.track({ subscriberId: ian, event: 'order.placed.v2' })).enrollments).toEqual([]);
    expect(await api.runs(active)).toHaveLength(2);
    await expectNoRuns(api, inactive);
  });

  it('honours idempotencyKey: the same key twice records one event and starts runs once', async () => {
    const api = await workspace();
    const seqA = await api.sequence({ name: 'A', trigger: 'EVENT_RECEIVED', eventName: 'signed_up', steps: [email('A')] });
    const seqB = await api.sequence({ name: 'B', trigger: 'EVENT_RECEIVED', eventName: 'signed_up', steps: [email('B')] });
    // The call also creates the subscriber, which starts a CONTACT_ADDED run: part of what the call started.
    const welcome = await api.sequence({ name: 'Welcome', trigger: 'CONTACT_ADDED', steps: [email('Welcome')] });
    const input = { email: 'jo@idem.test', event: 'signed_up', properties: { plan: 'pro' }, idempotencyKey: 'signup-jo-1' };
    const first = await api.track(input);
    expect(first.enrollments.map((r) => r.sequence.id).sort()).toEqual([seqA, seqB, welcome].sort());
    expect(first.enrollments.filter((r) => r.sequence.id !== welcome).every((r) => r.idempotencyKey === 'signup-jo-1')).toBe(true);
    const second = await api.track(input);
    expect(second.event.id).toBe(first.event.id);
    expect(second.enrollments.map((r) => r.id).sort()).toEqual(first.enrollments.map((r) => r.id).sort());
    // Same key by subscriber ID (same subscriber, same data) is the same call too.
    const third = await api.track({ ...input, email: undefined, subscriberId: first.event.subscriber.id });
    expect(third.event.id).toBe(first.event.id);

    expect(await t.prisma.event.count({ where: { idempotencyKey: 'signup-jo-1' } })).toBe(1);
    expect(await api.runs(seqA)).toHaveLength(1);
    expect(await api.runs(seqB)).toHaveLength(1);
    await settle(t);
    expect(await api.runs(welcome)).toHaveLength(1);
    expect(api.mailTo('jo@idem.test').map((m) => m.subject).sort()).toEqual(['A', 'B', 'Welcome']);

    // A different key is a different event.
    await api.track({ ...input, idempotencyKey: 'signup-jo-2' });
    expect(await api.runs(seqA)).toHaveLength(2);
  });
});

describe('FREQUENCY', () => {
  it('starts a run when the event reaches minCount within timeWindowDays, not below it nor while above it', async () => {
    const api = await workspace();
    const { active, inactive } = await withInactiveCopies(api, {
      name: 'Power user',
      trigger: 'FREQUENCY',
      eventName: 'report.exported',
      minCount: 3,
      timeWindowDays: 7,
      steps: [email('You export a lot')],
    });
    const track = (who: string, event = 'report.exported') => api.track({ email: who, event });

    expect((await track('kim@freq.test')).enrollments).toEqual([]);
    expect((await track('kim@freq.test')).enrollments).toEqual([]);
    expect((await track('kim@freq.test', 'report.viewed')).enrollments).toEqual([]); // other events do not count
    const third = await track('kim@freq.test');
    expect(third.enrollments.map((r) => r.sequence.id)).toEqual([active]);
    expect((await track('kim@freq.test')).enrollments).toEqual([]); // 4 in the window: stays above
    expect(emailsOf(await api.runs(active))).toEqual(['kim@freq.test']);

    // Occurrences older than the window do not count.
    await track('lou@freq.test');
    await track('lou@freq.test');
    await t.advance(8 * DAY);
    expect((await track('lou@freq.test')).enrollments).toEqual([]); // 1 within 7 days
    expect((await track('lou@freq.test')).enrollments).toEqual([]); // 2
    expect((await track('lou@freq.test')).enrollments).toHaveLength(1); // 3
    expect(emailsOf(await api.runs(active)).sort()).toEqual(['kim@freq.test', 'lou@freq.test']);
    await api.waitForMail('lou@freq.test', 1);
    await expectNoRuns(api, inactive);
  });
});

describe('INACTIVITY', () => {
  it('the sweep starts one run per inactivity stretch, counting only the named event (or any event without one)', async () => {
    const api = await workspace();
    const { active: noLogin, inactive } = await withInactiveCopies(api, {
      name: 'No login',
      trigger: 'INACTIVITY',
      eventName: 'login',
      inactiveDays: 3,
      steps: [email('We miss you')],
    });
    const quiet = await api.sequence({ name: 'Quiet', trigger: 'INACTIVITY', inactiveDays: 5, steps: [email('Anyone there?')] });
    const runsFor = async (seq: string) => emailsOf(await api.runs(seq)).sort();

    await api.subscriber({ email: 'ann@inactive.test' }); // never sends events
    await api.subscriber({ email: 'ben@inactive.test' }); // logs in
    await api.subscriber({ email: 'cat@inactive.test' }); // only other events

    // Just joined: nobody is inactive yet.
    expect(await sweepInactivity(t.runtime)).toBe(0);

    await t.advance(2 * DAY);
    await api.track({ email: 'ben@inactive.test', event: 'login' });
    await api.track({ email: 'cat@inactive.test', event: 'page.viewed' });
    expect(await sweepInactivity(t.runtime)).toBe(0);

    // Day 4: ann and cat have not logged in for 4 days (since joining); ben logged in 2 days ago.
    await t.advance(2 * DAY);
    expect(await sweepInactivity(t.runtime)).toBe(2);
    expect(await runsFor(noLogin)).toEqual(['ann@inactive.test', 'cat@inactive.test']);
    expect(await runsFor(quiet)).toEqual([]);
    // The same stretch is handled once.
    expect(await sweepInactivity(t.runtime)).toBe(0);
    expect(await api.runs(noLogin)).toHaveLength(2);

    // Day 6: ben's login is 4 days old; ann has had no event at all for 6 days (Quiet, 5 days).
    await t.advance(2 * DAY);
    expect(await sweepInactivity(t.runtime)).toBe(2);
    expect(await runsFor(noLogin)).toEqual(['ann@inactive.test', 'ben@inactive.test', 'cat@inactive.test']);
    expect(await runsFor(quiet)).toEqual(['ann@inactive.test']);

    // ann comes back (a new stretch begins), then goes quiet again for 4 days.
    await api.track({ email: 'ann@inactive.test', event: 'login' });
    await t.advance(4 * DAY);
    await sweepInactivity(t.runtime);
    // noLogin: ann's second stretch; ben and cat are still in the stretch already handled.
    expect(await runsFor(noLogin)).toEqual(['ann@inactive.test', 'ann@inactive.test', 'ben@inactive.test', 'cat@inactive.test']);
    // Quiet: ben (no event for 8 days) and cat (8 days) now; ann's login 4 days ago counts as activity.
    expect(await runsFor(quiet)).toEqual(['ann@inactive.test', 'ben@inactive.test', 'cat@inactive.test']);
    const run = (await api.runs(noLogin)).find((r) => r.subscriber.email === 'ben@inactive.test')!;
    expect(run.entryEvent).toEqual({ inactiveSince: expect.any(String) });

    await api.waitForMail('ben@inactive.test', 2);
    expect(api.mailTo('ben@inactive.test').map((m) => m.subject).sort()).toEqual(['Anyone there?', 'We miss you']);
    await expectNoRuns(api, inactive);
  });
});

describe('MANUAL', () => {
  it('starts runs only through enrollSubscriber', async () => {
    const api = await workspace();
    const manual = await api.sequence({ name: 'Hand-picked', trigger: 'MANUAL', steps: [email('Picked for you')] });
    const mo = await api.subscriber({ email: 'mo@manual.test', tags: ['vip'] });
    await api.track({ subscriberId: mo, event: 'anything' });
    await api.addTag(mo, 'other');
    await sweepInactivity(t.runtime);
    expect(await api.runs(manual)).toEqual([]);

    const run = await api.enroll({ sequenceId: manual, subscriber: { email: 'mo@manual.test' } });
    expect(run).toMatchObject({ subscriber: { id: mo }, sequence: { id: manual } });
    expect(await api.runs(manual)).toHaveLength(1);
    const [mail] = await api.waitForMail('mo@manual.test', 1);
    expect(mail!.subject).toBe('Picked for you');
  });
});

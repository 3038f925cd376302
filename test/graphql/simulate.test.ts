// simulateSequence through the GraphQL API on a real database: timelines to the
// minute (send windows across daylight-saving changes), stop conditions, reply
// pauses, throttles and opt-outs; bad input; and that nothing is ever written.
import { beforeAll, describe, expect, it } from 'vitest';
import { compiledEmailStats } from '../../src/mail/compiled-email.js';
import { useTestApp } from '../helpers/app.js';
import { testWorkspace } from '../helpers/test-clock.js';

const t = await useTestApp();
type Ws = Awaited<ReturnType<typeof t.workspace>>;
let ws: Ws;
let other: Ws;

const ERRORS = 'errors { field message code }';
const SIMULATE = `mutation($input: SimulateSequenceInput!) { simulateSequence(input: $input) {
  timeline { at outcome position reason subject previewText html text step { id position } } finalStatus endedAt ${ERRORS} } }`;
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id steps { id position } } ${ERRORS} } }`;

const email = (subject: string, delay?: Record<string, number>) => ({ subject, blocks: [{ type: 'text', text: `Body of ${subject}` }], ...(delay ? { delay } : {}) });
/** Delays of hours and days: 0, 4 h, 2 d, 1 d 3 h, 5 d. */
const fiveSteps = [email('One'), email('Two', { hours: 4 }), email('Three', { days: 2 }), email('Four', { days: 1, hours: 3 }), email('Five', { days: 5 })];
const weekdays = (timezone: string) => ({ timezone, daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 });

async function createSequence(w: Ws, input: Record<string, unknown>) {
  const res = await w.gql(CREATE, { input: { name: 'Simulated', trigger: 'EVENT_RECEIVED', eventName: 'signed_up', ...input } });
  expect(res.data.createSequence.errors).toEqual([]);
  return res.data.createSequence.sequence as { id: string; steps: { id: string; position: number }[] };
}

async function simulate(input: Record<string, unknown>, w: Ws = ws) {
  const res = await w.gql(SIMULATE, { input });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data.simulateSequence as {
    timeline: { at: string; outcome: string; position: number | null; reason: string | null; subject: string | null; html: string | null; text: string | null; step: { id: string } | null }[];
    finalStatus: string | null;
    endedAt: string | null;
    errors: { field: string[]; message: string; code: string }[];
  };
}

async function ok(input: Record<string, unknown>) {
  const result = await simulate(input);
  expect(result.errors).toEqual([]);
  return result;
}

const sends = (r: Awaited<ReturnType<typeof simulate>>) => r.timeline.filter((e) => e.outcome === 'SENT').map((e) => e.at);
const brief = (r: Awaited<ReturnType<typeof simulate>>) => r.timeline.map((e) => [e.at, e.outcome, e.position, e.reason]);

async function subscriber(w: Ws, email: string) {
  const res = await w.gql(`mutation($input: SubscriberInput!) { upsertSubscriber(input: $input) { subscriber { id } ${ERRORS} } }`, {
    input: { email, firstName: 'Ada', attributes: { plan: 'pro' } },
  });
  return res.data.upsertSubscriber.subscriber.id as string;
}

async function list(w: Ws, name: string) {
  return (await w.gql(`mutation($name: String!) { createList(name: $name) { id } }`, { name })).data.createList.id as string;
}

/** Every table a run, a send or a job would write, counted. */
async function rowCounts() {
  const tables = ['Enrollment', 'EnrollmentChange', 'StepRun', 'Message', 'MessageEvent', 'Discount', 'Subscriber', 'SubscriberTag', 'ListMembership', 'Event', 'Sequence', 'Step', 'Tag', 'List'];
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = Number((await t.prisma.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "${table}"`))[0]!.n);
  counts.jobs = Number((await t.prisma.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM pgboss.job`))[0]!.n);
  const updated = await t.prisma.$queryRawUnsafe<{ at: Date | null }[]>(`SELECT max("updatedAt") AS at FROM "Enrollment"`);
  return { counts, lastRunUpdate: updated[0]?.at ?? null };
}

beforeAll(async () => {
  ws = await t.workspace();
  other = await t.workspace('Other');
});

describe('simulateSequence timelines', () => {
  it('times a 5-step sequence in a Europe/Berlin window across the change to summer time, to the minute', async () => {
    const seq = await createSequence(ws, { steps: fiveSteps, sendWindow: weekdays('Europe/Berlin') });
    // Thursday 26 March 2026, 16:30 in Berlin (CET); summer time starts on Sunday the 29th.
    const r = await ok({ sequenceId: seq.id, startAt: '2026-03-26T15:30:00.000Z' });
    expect(sends(r)).toEqual([
      '2026-03-26T15:30:00.000Z', // at once, inside the window
      '2026-03-27T08:00:00.000Z', // +4 h is 20:30: Friday 09:00 CET
      '2026-03-30T07:00:00.000Z', // +2 d is Sunday: Monday 09:00 CEST
      '2026-03-31T10:00:00.000Z', // +1 d 3 h: Tuesday 12:00 CEST
      '2026-04-06T07:00:00.000Z', // +5 d is Sunday: Monday 09:00 CEST
    ]);
    expect(r.timeline.map((e) => e.outcome)).toEqual(['STARTED', 'SENT', 'SENT', 'SENT', 'SENT', 'SENT', 'COMPLETED']);
    expect(r.timeline.filter((e) => e.step).map((e) => e.step!.id)).toEqual(seq.steps.map((s) => s.id));
    expect(r).toMatchObject({ finalStatus: 'COMPLETED', endedAt: '2026-04-06T07:00:00.000Z' });
  });

  it('does the same in America/New_York across its own change (8 March 2026)', async () => {
    const seq = await createSequence(ws, { steps: fiveSteps, sendWindow: weekdays('America/New_York') });
    const r = await ok({ sequenceId: seq.id, startAt: '2026-03-05T20:30:00.000Z' }); // Thursday 15:30 EST
    expect(sends(r)).toEqual([
      '2026-03-05T20:30:00.000Z',
      '2026-03-06T14:00:00.000Z', // Friday 09:00 EST
      '2026-03-09T13:00:00.000Z', // Monday 09:00 EDT
      '2026-03-10T16:00:00.000Z', // Tuesday 12:00 EDT
      '2026-03-16T13:00:00.000Z', // Monday 09:00 EDT
    ]);
  });

  it('renders each email as it would go out: merge tags of the subscriber and the entry event, tracked links, unsubscribe link', async () => {
    const seq = await createSequence(ws, {
      steps: [
        {
          subject: 'Hi {{subscriber.firstName|there}} from {{event.city|nowhere}}',
          previewText: 'Plan {{subscriber.plan}}',
          blocks: [
            { type: 'text', text: 'Welcome {{subscriber.firstName}}' },
            { type: 'button', text: 'Start', url: 'https://example.com/start' },
          ],
        },
      ],
    });
    const sub = await subscriber(ws, 'ada@example.com');
    const r = await ok({ sequenceId: seq.id, subscriberId: sub, properties: { city: 'Berlin' } });
    const sent = r.timeline.find((e) => e.outcome === 'SENT')!;
    expect(sent.subject).toBe('Hi Ada from Berlin');
    expect(sent.html).toContain('Welcome Ada');
    expect(sent.html).toMatch(/href="http[^"]*\/t\/c\/[^"]*u=https%3A%2F%2Fexample.com%2Fstart"/); // through the click redirect, as in real mail
    expect(sent.html).not.toContain('href="https://example.com/start"');
    expect(sent.text).toMatch(/\/t\/u\//); // the unsubscribe link
  });

  it('simulates an unsaved sequence for an inline subscriber, with placeholder discount codes', async () => {
    const r = await ok({
      sequence: {
        name: 'Unsaved',
        trigger: 'MANUAL',
        steps: [
          { type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 20, codePrefix: 'WELCOME', expiresInHours: 48 } },
          { subject: 'Your code {{discount.code}}', blocks: [{ type: 'text', text: 'Use {{discount.code}} for {{discount.percentOff}}% off' }], delay: { hours: 1 } },
        ],
      },
      subscriber: { email: 'grace@example.com', firstName: 'Grace' },
      startAt: '2026-05-04T08:00:00.000Z',
    });
    expect(brief(r)).toEqual([
      ['2026-05-04T08:00:00.000Z', 'STARTED', null, null],
      ['2026-05-04T08:00:00.000Z', 'SENT', 1, 'discount created'],
      ['2026-05-04T09:00:00.000Z', 'SENT', 2, null],
      ['2026-05-04T09:00:00.000Z', 'COMPLETED', null, null],
    ]);
    expect(r.timeline[1]).toMatchObject({ html: null, step: null });
    expect(r.timeline[2]!.subject).toBe('Your code WELCOME-PREVIEW');
    expect(r.timeline[2]!.html).toContain('Use WELCOME-PREVIEW for 20% off');
  });

  it('stops at a happening that meets the stop condition midway', async () => {
    const customers = await list(ws, 'Customers');
    const seq = await createSequence(ws, { steps: fiveSteps, stopCondition: { type: 'ADDED_TO_LIST', value: customers } });
    const r = await ok({
      sequenceId: seq.id,
      startAt: '2026-06-01T10:00:00.000Z',
      happenings: [
        { after: 'P1D', kind: 'TAG_ADDED', tag: 'unrelated' },
        { after: 'P2DT5H', kind: 'LIST_ADDED', listId: customers },
      ],
    });
    expect(brief(r)).toEqual([
      ['2026-06-01T10:00:00.000Z', 'STARTED', null, null],
      ['2026-06-01T10:00:00.000Z', 'SENT', 1, null],
      ['2026-06-01T14:00:00.000Z', 'SENT', 2, null],
      ['2026-06-03T14:00:00.000Z', 'SENT', 3, null],
      ['2026-06-03T15:00:00.000Z', 'STOPPED', null, expect.stringMatching(/^stop condition ADDED_TO_LIST: added to list /)],
    ]);
    expect(r).toMatchObject({ finalStatus: 'STOPPED', endedAt: '2026-06-03T15:00:00.000Z' });
  });

  it('pauses on a reply with the PAUSE action for its duration, then completes as the machine decides', async () => {
    const seq = await createSequence(ws, { steps: fiveSteps, primaryReplyAction: 'PAUSE', primaryReplyPauseDuration: 3 * 86_400 });
    const r = await ok({ sequenceId: seq.id, startAt: '2026-06-01T10:00:00.000Z', happenings: [{ at: '2026-06-01T12:00:00.000Z', kind: 'REPLY', sentiment: 'POSITIVE' }] });
    expect(brief(r).slice(2)).toEqual([
      ['2026-06-01T12:00:00.000Z', 'PAUSED', null, 'replied'],
      ['2026-06-04T12:00:00.000Z', 'COMPLETED', null, 'reply pause ended'],
    ]);
    expect(sends(r)).toHaveLength(1);
  });

  it('stops a marketing run at an unsubscribe; later emails are not sent', async () => {
    const seq = await createSequence(ws, { steps: fiveSteps });
    const r = await ok({ sequenceId: seq.id, startAt: '2026-06-01T10:00:00.000Z', happenings: [{ after: 'PT5H', kind: 'UNSUBSCRIBE' }] });
    expect(brief(r).slice(-1)).toEqual([['2026-06-01T15:00:00.000Z', 'STOPPED', null, 'unsubscribed']]);
    expect(sends(r)).toHaveLength(2);
  });

  it('queues a run over the daily limit behind today’s real runs and releases it at the day roll-over', async () => {
    const seq = await createSequence(ws, { steps: [email('Only')], throttleMaxAddsPerDay: 1 });
    const enable = await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { ${ERRORS} } }`, { id: seq.id });
    expect(enable.data.enableSequence.errors).toEqual([]);
    const first = await subscriber(ws, 'first@example.com');
    const tracked = await ws.gql(`mutation($input: TrackEventInput!) { trackEvent(input: $input) { enrollments { status } ${ERRORS} } }`, {
      input: { subscriberId: first, event: 'signed_up' },
    });
    expect(tracked.data.trackEvent.enrollments).toEqual([{ status: 'ACTIVE' }]);

    const r = await ok({ sequenceId: seq.id, subscriber: { email: 'second@example.com' } });
    const now = new Date(r.timeline[0]!.at);
    const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
    expect(brief(r)).toEqual([
      [now.toISOString(), 'QUEUED', null, 'The sequence started 1 runs today: the run waits as QUEUED'],
      [midnight, 'STARTED', null, 'released from throttle'],
      [midnight, 'SENT', 1, null],
      [midnight, 'COMPLETED', null, null],
    ]);
  });

  it('times a DATE sequence from the date in the entry event, skipping a step whose time had passed', async () => {
    const seq = await createSequence(ws, {
      sequenceType: 'DATE',
      dateFieldPath: 'webinar.startsAt',
      steps: [
        { ...email('A week before'), dateOffset: { days: 7, direction: 'BEFORE' } },
        { ...email('A day before'), dateOffset: { days: 1, direction: 'BEFORE' } },
        { ...email('Recording'), dateOffset: { hours: 2, direction: 'AFTER' } },
      ],
    });
    const r = await ok({ sequenceId: seq.id, startAt: '2026-06-05T12:00:00.000Z', properties: { webinar: { startsAt: '2026-06-10T16:00:00.000Z' } } });
    expect(brief(r)).toEqual([
      ['2026-06-05T12:00:00.000Z', 'STARTED', null, null],
      ['2026-06-05T12:00:00.000Z', 'SKIPPED', 1, 'its time (2026-06-03T16:00:00.000Z) had passed when the run started'],
      ['2026-06-09T16:00:00.000Z', 'SENT', 2, null],
      ['2026-06-10T18:00:00.000Z', 'SENT', 3, null],
      ['2026-06-10T18:00:00.000Z', 'COMPLETED', null, null],
    ]);
  });

  it('refuses a MATCHING_FIELD start without the key, at the entry event’s properties', async () => {
    const seq = await createSequence(ws, { steps: [email('One')], enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: 'order.id' });
    const r = await simulate({ sequenceId: seq.id, properties: { order: {} } });
    expect(r).toMatchObject({ timeline: [], errors: [{ field: ['input', 'properties'], code: 'NO_ENROLLMENT_KEY' }] });
  });

  it('simulates a live sequence’s draft by its id, and the live version unchanged', async () => {
    const seq = await createSequence(ws, { steps: [email('One'), email('Two', { days: 1 })] });
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { ${ERRORS} } }`, { id: seq.id });
    const edited = await ws.gql(`mutation($id: ID!, $input: UpdateSequenceInput!) { editSequenceDraft(id: $id, input: $input) { sequence { id } ${ERRORS} } }`, {
      id: seq.id,
      input: { steps: [email('One'), email('Two', { hours: 6 }), email('Three', { days: 3 })] },
    });
    expect(edited.data.editSequenceDraft.errors).toEqual([]);
    const draftId = edited.data.editSequenceDraft.sequence.id as string;
    expect(draftId).not.toBe(seq.id);
    const startAt = '2026-06-01T10:00:00.000Z';
    expect(sends(await ok({ sequenceId: draftId, startAt }))).toEqual(['2026-06-01T10:00:00.000Z', '2026-06-01T16:00:00.000Z', '2026-06-04T16:00:00.000Z']);
    expect(sends(await ok({ sequenceId: seq.id, startAt }))).toEqual(['2026-06-01T10:00:00.000Z', '2026-06-02T10:00:00.000Z']);
  });

  it('answers the START decision’s refusal as an error (a one-time sequence the subscriber already ran)', async () => {
    const seq = await createSequence(ws, { steps: [email('Once')], enrollmentMode: 'ONE_TIME' });
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { ${ERRORS} } }`, { id: seq.id });
    const sub = await subscriber(ws, 'once@example.com');
    await ws.gql(`mutation($input: TrackEventInput!) { trackEvent(input: $input) { ${ERRORS} } }`, { input: { subscriberId: sub, event: 'signed_up' } });
    const r = await simulate({ sequenceId: seq.id, subscriberId: sub });
    expect(r).toMatchObject({ timeline: [], finalStatus: null, errors: [{ field: ['input', 'subscriberId'], code: 'ONE_TIME' }] });
  });
});

describe('simulateSequence on a test clock, and what it computes', () => {
  it('starts a test workspace’s run at its test clock’s time by default, happenings counted from there', async () => {
    const frozen = new Date('2027-01-04T08:00:00.000Z');
    const twin = await testWorkspace(t, frozen);
    const seq = await createSequence(twin, { steps: [email('One'), email('Two', { days: 2 })], primaryReplyAction: 'FINISH' });
    const r = await simulate({ sequenceId: seq.id, happenings: [{ after: 'P1D', kind: 'REPLY' }] }, twin);
    expect(r.errors).toEqual([]);
    expect(brief(r)).toEqual([
      ['2027-01-04T08:00:00.000Z', 'STARTED', null, null],
      ['2027-01-04T08:00:00.000Z', 'SENT', 1, null],
      ['2027-01-05T08:00:00.000Z', 'COMPLETED', null, 'replied'],
    ]);
  });

  it('renders no email when the query asks only for the timeline', async () => {
    const unsaved = { name: 'Lazy', trigger: 'MANUAL', steps: [email(`Lazy ${Date.now()}`)] };
    const before = compiledEmailStats().compiles;
    const timelineOnly = await ws.gql(`mutation($input: SimulateSequenceInput!) { simulateSequence(input: $input) { timeline { at outcome } errors { message } } }`, {
      input: { sequence: unsaved },
    });
    expect(timelineOnly.data.simulateSequence.timeline.map((e: { outcome: string }) => e.outcome)).toEqual(['STARTED', 'SENT', 'COMPLETED']);
    expect(compiledEmailStats().compiles).toBe(before);
    const withHtml = await ok({ sequence: unsaved });
    expect(withHtml.timeline[1]!.html).toContain('Body of Lazy');
    expect(compiledEmailStats().compiles).toBe(before + 1);
  });
});

describe('simulateSequence bad input', () => {
  let seqId: string;
  let otherSeq: string;
  let otherList: string;
  let ownList: string;
  beforeAll(async () => {
    ownList = await list(ws, 'Own');
    seqId = (await createSequence(ws, { steps: [email('One')] })).id;
    otherSeq = (await createSequence(other, { steps: [email('Theirs')] })).id;
    otherList = await list(other, 'Theirs');
  });

  const cases: [string, () => Record<string, unknown>, { field: string[]; code: string }][] = [
    ['an unknown sequence', () => ({ sequenceId: 'seq_00000000000000000000000000' }), { field: ['input', 'sequenceId'], code: 'NOT_FOUND' }],
    ['another workspace’s sequence', () => ({ sequenceId: otherSeq }), { field: ['input', 'sequenceId'], code: 'NOT_FOUND' }],
    ['neither sequence nor sequenceId', () => ({}), { field: ['input', 'sequenceId'], code: 'VALIDATION' }],
    ['both sequence and sequenceId', () => ({ sequenceId: seqId, sequence: { name: 'x', trigger: 'MANUAL' } }), { field: ['input', 'sequence'], code: 'VALIDATION' }],
    ['an invalid unsaved sequence', () => ({ sequence: { name: 'x', trigger: 'EVENT_RECEIVED' } }), { field: ['input', 'sequence', 'eventName'], code: 'VALIDATION' }],
    ['an unknown subscriber', () => ({ sequenceId: seqId, subscriberId: 'sub_00000000000000000000000000' }), { field: ['input', 'subscriberId'], code: 'NOT_FOUND' }],
    ['another workspace’s list in the inline subscriber', () => ({ sequenceId: seqId, subscriber: { email: 'x@example.com', listIds: [otherList] } }), { field: ['input', 'subscriber', 'listIds', '0'], code: 'NOT_FOUND' }],
    ['another workspace’s list in a happening', () => ({ sequenceId: seqId, happenings: [{ after: 'P1D', kind: 'LIST_ADDED', listId: otherList }] }), { field: ['input', 'happenings', '0', 'listId'], code: 'NOT_FOUND' }],
    [
      'another workspace’s list in a later happening (the path names that happening)',
      () => ({ sequenceId: seqId, happenings: [{ after: 'P1D', kind: 'LIST_ADDED', listId: ownList }, { after: 'P2D', kind: 'REPLY' }, { after: 'P3D', kind: 'LIST_REMOVED', listId: otherList }] }),
      { field: ['input', 'happenings', '2', 'listId'], code: 'NOT_FOUND' },
    ],
    ['a happening before the start', () => ({ sequenceId: seqId, startAt: '2026-06-01T10:00:00Z', happenings: [{ at: '2026-06-01T09:59:00Z', kind: 'REPLY' }] }), { field: ['input', 'happenings', '0', 'at'], code: 'VALIDATION' }],
    ['a happening with both at and after', () => ({ sequenceId: seqId, happenings: [{ at: '2030-01-01T00:00:00Z', after: 'P1D', kind: 'REPLY' }] }), { field: ['input', 'happenings', '0', 'at'], code: 'VALIDATION' }],
    ['a happening with neither at nor after', () => ({ sequenceId: seqId, happenings: [{ kind: 'REPLY' }] }), { field: ['input', 'happenings', '0', 'at'], code: 'VALIDATION' }],
    ['a bad ISO duration', () => ({ sequenceId: seqId, happenings: [{ after: '2 days', kind: 'REPLY' }] }), { field: ['input', 'happenings', '0', 'after'], code: 'VALIDATION' }],
    ['a TAG_ADDED without its tag', () => ({ sequenceId: seqId, happenings: [{ after: 'P1D', kind: 'TAG_ADDED' }] }), { field: ['input', 'happenings', '0', 'tag'], code: 'VALIDATION' }],
    ['more than 1,000 happenings', () => ({ sequenceId: seqId, happenings: Array.from({ length: 1001 }, () => ({ after: 'P1D', kind: 'REPLY' })) }), { field: ['input', 'happenings'], code: 'VALIDATION' }],
    ['an unknown time zone', () => ({ sequenceId: seqId, timeZone: 'Mars/Olympus' }), { field: ['input', 'timeZone'], code: 'VALIDATION' }],
  ];
  it.each(cases)('refuses %s with a field path', async (_name, input, expected) => {
    const r = await simulate(input());
    expect(r.timeline).toEqual([]);
    expect(r.errors[0]).toMatchObject(expected);
  });

  it('accepts exactly 1,000 happenings', async () => {
    const r = await ok({ sequenceId: seqId, happenings: Array.from({ length: 1000 }, (_, i) => ({ after: `PT${i + 1}M`, kind: 'TAG_ADDED', tag: `t${i}` })) });
    expect(r.finalStatus).toBe('COMPLETED');
  });
});

describe('simulateSequence writes nothing', () => {
  it('leaves every table and the job queue as they were, whatever it simulates', async () => {
    const seq = await createSequence(ws, { steps: fiveSteps, throttleMaxAddsPerDay: 5, primaryReplyAction: 'PAUSE', primaryReplyPauseDuration: 3600 });
    const sub = await subscriber(ws, 'still@example.com');
    const customers = await list(ws, 'Still');
    await ok({ sequenceId: seq.id, subscriberId: sub }); // warms the tracking key (created once per installation)
    const before = await rowCounts();
    await ok({ sequenceId: seq.id, subscriberId: sub, happenings: [{ after: 'PT1H', kind: 'REPLY' }, { after: 'P1D', kind: 'LIST_ADDED', listId: customers }] });
    await ok({ sequenceId: seq.id, subscriber: { email: 'new@example.com', tags: ['a'], listIds: [customers] }, happenings: [{ after: 'PT1H', kind: 'UNSUBSCRIBE' }, { after: 'PT2H', kind: 'BOUNCE' }] });
    await ok({ sequence: { name: 'Unsaved', trigger: 'MANUAL', steps: fiveSteps } });
    await simulate({ sequenceId: seq.id, happenings: [{ after: 'nope', kind: 'REPLY' }] });
    expect(await rowCounts()).toEqual(before);
  });
});

// Bulk ingestion (trackEvents) and why runs did not start (skipped), through the
// GraphQL API against real Postgres: per-event errors with index paths, idempotency
// keys inside a batch, triggers for each event, MATCHING_FIELD per subscriber, races.
import { beforeAll, describe, expect, it } from 'vitest';
import { tryDecodeId } from '../../src/domain/public-id.js';
import { useTestEngine } from '../helpers/engine.js';
import { email, engineApi } from './support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  api = engineApi(t, await t.workspace());
});

const ERRORS = 'errors { field message code }';
const RESULT = `event { id name properties subscriber { email } } enrollments { id status enrollmentKey subscriber { email } }
  skipped { sequence { id name } code reason } ${ERRORS}`;
const TRACK = `mutation($input: TrackEventInput!) { trackEvent(input: $input) { ${RESULT} } }`;
const TRACK_MANY = `mutation($input: TrackEventsInput!) { trackEvents(input: $input) { results { ${RESULT} } ${ERRORS} } }`;
const ENROLL = `mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) {
  enrollment { id status } skipped { sequence { id } code reason } ${ERRORS} } }`;

const track = async (input: Record<string, unknown>) => {
  const res = await api.ws.gql(TRACK, { input });
  expect(res.errors).toBeUndefined();
  return res.data.trackEvent;
};
const trackMany = async (events: Record<string, unknown>[]) => {
  const res = await api.ws.gql(TRACK_MANY, { input: { events } });
  expect(res.errors).toBeUndefined();
  return res.data.trackEvents;
};

describe('MATCHING_FIELD is per subscriber', () => {
  it('Alice and Bob waiting for one variant both get a run; the same subscriber and key again is ALREADY_ACTIVE, listed in skipped', async () => {
    // shopify.back_in_stock defaults to MATCHING_FIELD; no field path: the key is the built-in product.providerVariantId.
    const seq = await api.sequence({ name: 'Back in stock', trigger: 'EVENT_RECEIVED', eventName: 'shopify.back_in_stock', steps: [email('{{event.product.title}} is back', { days: 1 })] });
    const [created] = await t.prisma.sequence.findMany({ where: { name: 'Back in stock' } });
    expect(created).toMatchObject({ enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: null });
    const properties = { product: { providerVariantId: 'v_42', title: 'Blue mug' } };

    const alice = await track({ email: 'alice@mf.test', event: 'shopify.back_in_stock', properties });
    const bob = await track({ email: 'bob@mf.test', event: 'shopify.back_in_stock', properties });
    for (const [r, who] of [[alice, 'alice@mf.test'], [bob, 'bob@mf.test']] as const) {
      expect(r.errors).toEqual([]);
      expect(r.skipped).toEqual([]);
      expect(r.enrollments).toEqual([
        { id: expect.any(String), status: 'ACTIVE', enrollmentKey: 'event:shopify.back_in_stock:field:product.providerVariantId:v_42', subscriber: { email: who } },
      ]);
    }

    const again = await track({ email: 'alice@mf.test', event: 'shopify.back_in_stock', properties });
    expect(again.enrollments).toEqual([]);
    expect(again.skipped).toEqual([{ sequence: { id: seq, name: 'Back in stock' }, code: 'ALREADY_ACTIVE', reason: expect.stringContaining('v_42') }]);

    // Another variant is another key for the same subscriber.
    const other = await track({ email: 'alice@mf.test', event: 'shopify.back_in_stock', properties: { variant: { id: 'v_43' } } });
    expect(other.enrollments.map((e: { enrollmentKey: string }) => e.enrollmentKey)).toEqual(['event:shopify.back_in_stock:field:variant.id:v_43']);

    // No key anywhere: nothing starts, and the answer says why.
    const none = await track({ email: 'alice@mf.test', event: 'shopify.back_in_stock', properties: { note: 'no product' } });
    expect(none.event.name).toBe('shopify.back_in_stock');
    expect(none.enrollments).toEqual([]);
    expect(none.skipped).toEqual([{ sequence: { id: seq, name: 'Back in stock' }, code: 'NO_ENROLLMENT_KEY', reason: expect.stringContaining('productId') }]);

    expect((await api.runs(seq)).map((r) => [r.subscriber.email, r.enrollmentKey?.split(':').at(-1)]).sort()).toEqual([
      ['alice@mf.test', 'v_42'],
      ['alice@mf.test', 'v_43'],
      ['bob@mf.test', 'v_42'],
    ]);
  });

  it('concurrent trackEvents racing on the same subscriber and key start one run', async () => {
    const seq = await api.sequence({
      name: 'Race', trigger: 'EVENT_RECEIVED', eventName: 'race.viewed', enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: 'sku',
      steps: [email('Race', { days: 1 })],
    });
    await api.subscriber({ email: 'racer@mf.test' });
    const batch = [{ email: 'racer@mf.test', event: 'race.viewed', properties: { sku: 'S1' } }];
    const answers = await Promise.all([...Array.from({ length: 4 }, () => trackMany(batch)), ...Array.from({ length: 4 }, () => track(batch[0]!))]);
    const results = answers.map((a) => ('results' in a ? a.results[0] : a));
    for (const r of results) expect(r.errors).toEqual([]);
    expect(results.flatMap((r) => r.enrollments)).toHaveLength(1);
    expect(results.flatMap((r) => r.skipped.map((s: { code: string }) => s.code))).toEqual(Array(7).fill('ALREADY_ACTIVE'));
    expect(await api.runs(seq)).toHaveLength(1);
    expect(await t.prisma.event.count({ where: { name: 'race.viewed' } })).toBe(8);
  });
});

describe('trackEvents', () => {
  it('records the good events and reports each bad one at its index, recording nothing of it', async () => {
    const seq = await api.sequence({ name: 'Bulk', trigger: 'EVENT_RECEIVED', eventName: 'bulk.signup', steps: [email('Welcome', { days: 1 })] });
    const events = Array.from({ length: 10 }, (_, i) => ({ email: `bulk${i}@ingest.test`, event: 'bulk.signup', properties: { i } }));
    events[3] = { email: 'not-an-email', event: 'bulk.signup', properties: { i: 3 } };
    events[7] = { subscriberId: 'sub_doesnotexist', event: 'bulk.signup', properties: { i: 7 } } as never;
    (events[8] as Record<string, unknown>).event = '';
    const answer = await trackMany(events);

    expect(answer.errors).toEqual([
      { field: ['input', 'events', '3', 'email'], message: expect.any(String), code: 'VALIDATION' },
      { field: ['input', 'events', '7', 'subscriberId'], message: 'Subscriber not found', code: 'NOT_FOUND' },
      { field: ['input', 'events', '8', 'event'], message: expect.any(String), code: 'VALIDATION' },
    ]);
    expect(answer.results).toHaveLength(10);
    answer.results.forEach((r: any, i: number) => {
      if ([3, 7, 8].includes(i)) {
        expect(r.event).toBeNull();
        expect(r.enrollments).toEqual([]);
        expect(r.errors).toHaveLength(1);
      } else {
        expect(r.errors).toEqual([]);
        expect(r.event).toMatchObject({ name: 'bulk.signup', properties: { i }, subscriber: { email: `bulk${i}@ingest.test` } });
        expect(r.enrollments).toEqual([{ id: expect.any(String), status: 'ACTIVE', enrollmentKey: null, subscriber: { email: `bulk${i}@ingest.test` } }]);
      }
    });
    expect(await t.prisma.event.count({ where: { name: 'bulk.signup' } })).toBe(7);
    expect(await t.prisma.subscriber.count({ where: { email: { startsWith: 'bulk' } } })).toBe(7);
    expect(await t.prisma.subscriber.count({ where: { email: 'not-an-email' } })).toBe(0);
    expect(await api.runs(seq)).toHaveLength(7);
    // Every start is in the change log.
    expect(await t.prisma.enrollmentChange.count({ where: { sequenceId: (await t.prisma.sequence.findFirstOrThrow({ where: { name: 'Bulk' } })).id } })).toBe(7);
  });

  it('two events with one idempotency key in one call record one event and start one run; a different event with that key is refused', async () => {
    const seq = await api.sequence({ name: 'Bulk idem', trigger: 'EVENT_RECEIVED', eventName: 'bulk.idem', steps: [email('Idem', { days: 1 })] });
    const same = { email: 'idem@ingest.test', event: 'bulk.idem', properties: { n: 1 }, idempotencyKey: 'bulk-idem-1' };
    const answer = await trackMany([same, same, { ...same, properties: { n: 2 } }, { email: 'idem2@ingest.test', event: 'bulk.idem' }]);
    expect(answer.errors).toEqual([{ field: ['input', 'events', '2', 'idempotencyKey'], message: expect.any(String), code: 'IDEMPOTENCY_CONFLICT' }]);
    const [first, second, , other] = answer.results;
    expect(second.event.id).toBe(first.event.id);
    expect(second.enrollments).toEqual(first.enrollments);
    expect(first.enrollments).toHaveLength(1);
    expect(other.enrollments).toHaveLength(1);
    expect(await t.prisma.event.count({ where: { idempotencyKey: 'bulk-idem-1' } })).toBe(1);
    expect(await api.runs(seq)).toHaveLength(2);

    // A later call with the key replays the first event and its runs.
    const replay = await trackMany([same]);
    expect(replay.results[0].event.id).toBe(first.event.id);
    expect(replay.results[0].enrollments).toEqual(first.enrollments);
    expect(await api.runs(seq)).toHaveLength(2);
  });

  it('parallel calls with one idempotency key (trackEvent asking only run ids, and batches repeating it) record one event and one run, and all answer it', async () => {
    const seq = await api.sequence({ name: 'Race idem', trigger: 'EVENT_RECEIVED', eventName: 'race.idem', steps: [email('Once', { days: 1 })] });
    const same = { email: 'race-idem@ingest.test', event: 'race.idem', properties: { n: 1 }, idempotencyKey: 'race-idem-1' };
    const ONLY_IDS = `mutation($input: TrackEventInput!) { trackEvent(input: $input) { event { id } enrollments { id } ${ERRORS} } }`;
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, async () => {
        const res = await api.ws.gql(ONLY_IDS, { input: same });
        expect(res.errors).toBeUndefined();
        return [res.data.trackEvent];
      }),
      ...Array.from({ length: 3 }, async () => (await trackMany([same, { ...same }, same])).results),
    ]);
    const results = answers.flat();
    for (const r of results) expect(r.errors).toEqual([]);
    const eventIds = new Set(results.map((r: { event: { id: string } }) => r.event.id));
    const runIds = new Set(results.flatMap((r: { enrollments: { id: string }[] }) => r.enrollments.map((e) => e.id)));
    expect(eventIds.size).toBe(1);
    expect(runIds.size).toBe(1);
    expect(results.every((r: { enrollments: unknown[] }) => r.enrollments.length === 1)).toBe(true);
    expect(await t.prisma.event.count({ where: { idempotencyKey: 'race-idem-1' } })).toBe(1);
    const runs = await api.runs(seq);
    expect(runs.map((r) => r.id)).toEqual([...runIds]);
  });

  it('fires the triggers of every event: CONTACT_ADDED for each new subscriber, FREQUENCY counting the batch in order', async () => {
    const contact = await api.sequence({ name: 'Bulk contact', trigger: 'CONTACT_ADDED', steps: [email('Hello', { days: 1 })] });
    const frequent = await api.sequence({
      name: 'Bulk frequency', trigger: 'FREQUENCY', eventName: 'bulk.view', minCount: 2, timeWindowDays: 7, steps: [email('Again?', { days: 1 })],
    });
    const answer = await trackMany([
      { email: 'f1@ingest.test', event: 'bulk.view' },
      { email: 'f1@ingest.test', event: 'bulk.view' },
      { email: 'f1@ingest.test', event: 'bulk.view' },
      { email: 'f2@ingest.test', event: 'bulk.view' },
    ]);
    expect(answer.errors).toEqual([]);
    const started = (await Promise.all([api.runs(contact), api.runs(frequent)])).map((runs) => runs.map((r) => r.subscriber.email).sort());
    // One CONTACT_ADDED run per new subscriber (not per event); FREQUENCY fires when f1's count reaches 2, not at 3.
    expect(started).toEqual([['f1@ingest.test', 'f2@ingest.test'], ['f1@ingest.test']]);
    expect(answer.results.map((r: any) => r.enrollments.length)).toEqual([1, 1, 0, 1]);
  });

  it('behaves as the events one by one: a later event of the batch stops a run an earlier one started', async () => {
    const seq = await api.sequence({
      name: 'Bulk cart', trigger: 'EVENT_RECEIVED', eventName: 'bulk.cart', stopCondition: { type: 'EVENT_RECEIVED', value: 'bulk.order' },
      steps: [email('Your cart', { days: 1 })],
    });
    const answer = await trackMany([
      { email: 'buyer@ingest.test', event: 'bulk.cart' },
      { email: 'browser@ingest.test', event: 'bulk.cart' },
      { email: 'buyer@ingest.test', event: 'bulk.order' },
    ]);
    expect(answer.errors).toEqual([]);
    const runs = await api.runs(seq);
    expect(runs.map((r) => [r.subscriber.email, r.status, r.cancelReason]).sort()).toEqual([
      ['browser@ingest.test', 'ACTIVE', null],
      ['buyer@ingest.test', 'STOPPED', 'stop condition EVENT_RECEIVED: event bulk.order'],
    ]);
    const buyerRun = runs.find((r) => r.subscriber.email === 'buyer@ingest.test')!;
    const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: tryDecodeId('Enrollment', buyerRun.id)! }, orderBy: { id: 'asc' } });
    expect(changes.map((c) => [c.previousStatus, c.status])).toEqual([[null, 'ACTIVE'], ['ACTIVE', 'STOPPED']]);
  });

  it('accepts 1 to 1,000 events', async () => {
    for (const events of [[], Array.from({ length: 1001 }, () => ({ email: 'x@ingest.test', event: 'e' }))]) {
      const answer = await trackMany(events);
      expect(answer.results).toEqual([]);
      expect(answer.errors).toEqual([{ field: ['input', 'events'], message: expect.stringContaining('1,000'), code: 'VALIDATION' }]);
    }
    expect(await t.prisma.subscriber.count({ where: { email: 'x@ingest.test' } })).toBe(0);
  });
});

describe('skipped', () => {
  it('lists ONE_TIME, MAX_ACTIVATIONS and queued THROTTLE_PAUSED starts; enrollSubscriber reports its queued run', async () => {
    const once = await api.sequence({ name: 'Skip once', trigger: 'EVENT_RECEIVED', eventName: 'skip.ping', enrollmentMode: 'ONE_TIME', steps: [email('Once', { days: 1 })] });
    const max = await api.sequence({ name: 'Skip max', trigger: 'EVENT_RECEIVED', eventName: 'skip.ping', maxActivations: 1, steps: [email('Max', { days: 1 })] });
    const paused = await api.sequence({ name: 'Skip paused', trigger: 'EVENT_RECEIVED', eventName: 'skip.ping', steps: [email('Paused', { days: 1 })] });
    await api.update(paused, { throttlePaused: true });

    await api.subscriber({ email: 'skip@ingest.test' }); // not new: other suites' CONTACT_ADDED sequences stay out of it
    const first = await track({ email: 'skip@ingest.test', event: 'skip.ping' });
    expect(first.enrollments.map((e: { status: string }) => e.status).sort()).toEqual(['ACTIVE', 'ACTIVE', 'QUEUED']);
    expect(first.skipped).toEqual([{ sequence: { id: paused, name: 'Skip paused' }, code: 'THROTTLE_PAUSED', reason: expect.stringContaining('QUEUED') }]);

    const second = await track({ email: 'skip@ingest.test', event: 'skip.ping' });
    expect(second.enrollments.map((e: { status: string }) => e.status)).toEqual(['QUEUED']);
    expect(second.skipped.map((s: any) => [s.sequence.id, s.code])).toEqual([
      [once, 'ONE_TIME'],
      [max, 'MAX_ACTIVATIONS'],
      [paused, 'THROTTLE_PAUSED'],
    ]);

    const manual = await api.sequence({ name: 'Skip manual', trigger: 'MANUAL', steps: [email('Manual', { days: 1 })] });
    await api.update(manual, { throttlePaused: true });
    const res = await api.ws.gql(ENROLL, { input: { sequenceId: manual, subscriber: { email: 'skip@ingest.test' } } });
    expect(res.data.enrollSubscriber).toMatchObject({ enrollment: { status: 'QUEUED' }, skipped: [{ sequence: { id: manual }, code: 'THROTTLE_PAUSED' }], errors: [] });
  });
});

describe('upsertSubscribers', () => {
  const UPSERT_MANY = `mutation($input: UpsertSubscribersInput!) { upsertSubscribers(input: $input) {
    subscribers { id email tags externalId } ${ERRORS} } }`;
  const upsertMany = async (subscribers: Record<string, unknown>[]) => {
    const res = await api.ws.gql(UPSERT_MANY, { input: { subscribers } });
    expect(res.errors).toBeUndefined();
    return res.data.upsertSubscribers;
  };

  it('upserts each item as upsertSubscriber does, firing CONTACT_ADDED, TAG_ADDED, list and segment triggers per item; bad items are null with indexed errors', async () => {
    const list = await api.list('Import list');
    const segment = await api.segment('Import pros', { match: 'all', conditions: [{ attribute: 'plan', op: 'eq', value: 'import-pro' }] });
    const onList = await api.sequence({ name: 'Import list seq', trigger: 'CONTACT_ADDED', listId: list, steps: [email('Listed', { days: 1 })] });
    const onTag = await api.sequence({ name: 'Import tag seq', trigger: 'TAG_ADDED', tagName: 'imported', steps: [email('Tagged', { days: 1 })] });
    const onSegment = await api.sequence({ name: 'Import segment seq', trigger: 'SEGMENT_ENTERED', segmentId: segment, steps: [email('Pro', { days: 1 })] });
    await api.subscriber({ email: 'old@import.test', tags: ['imported'] });
    const onContact = await api.sequence({ name: 'Import contact seq', trigger: 'CONTACT_ADDED', steps: [email('Hi', { days: 1 })] });

    const answer = await upsertMany([
      { email: 'new1@import.test', tags: ['imported'], listIds: [list] },
      { email: 'broken', tags: ['imported'] },
      { email: 'old@import.test', tags: ['imported'], attributes: { plan: 'import-pro' } },
      { email: 'new2@import.test', listIds: ['lst_doesnotexist'] },
      { email: 'new1@import.test', attributes: { plan: 'import-pro' } },
    ]);
    expect(answer.errors).toEqual([
      { field: ['input', 'subscribers', '1', 'email'], message: expect.any(String), code: 'VALIDATION' },
      { field: ['input', 'subscribers', '3', 'listIds', '0'], message: 'List not found', code: 'NOT_FOUND' },
    ]);
    expect(answer.subscribers.map((s: { email: string } | null) => s?.email ?? null)).toEqual([
      'new1@import.test', null, 'old@import.test', null, 'new1@import.test',
    ]);
    expect(answer.subscribers[0].id).toBe(answer.subscribers[4].id);
    expect(await t.prisma.subscriber.count({ where: { email: { in: ['broken', 'new2@import.test'] } } })).toBe(0);

    const who = async (seq: string) => (await api.runs(seq)).map((r) => r.subscriber.email).sort();
    // new1 is created once (one CONTACT_ADDED run), joins the list, gets the tag; old already had the tag.
    expect(await who(onContact)).toEqual(['new1@import.test']);
    expect(await who(onList)).toEqual(['new1@import.test']);
    expect(await who(onTag)).toEqual(['new1@import.test', 'old@import.test']);
    // Both came to match the segment in this call.
    expect(await who(onSegment)).toEqual(['new1@import.test', 'old@import.test']);
  });

  it('concurrent imports and event batches sharing new emails in opposite orders all succeed, one subscriber per email', async () => {
    const emails = Array.from({ length: 30 }, (_, i) => `race${i}@import.test`);
    const reversed = [...emails].reverse();
    const [a, b, c, d] = await Promise.all([
      upsertMany(emails.map((e) => ({ email: e, tags: ['race-a'] }))),
      upsertMany(reversed.map((e) => ({ email: e, tags: ['race-b'] }))),
      trackMany(emails.map((e) => ({ email: e, event: 'race.import' }))),
      trackMany(reversed.map((e) => ({ email: e, event: 'race.import' }))),
    ]);
    for (const answer of [a, b, c, d]) expect(answer.errors).toEqual([]);
    expect(await t.prisma.subscriber.count({ where: { email: { in: emails } } })).toBe(30);
    expect(await t.prisma.event.count({ where: { name: 'race.import' } })).toBe(60);
    const tagged = await t.prisma.subscriberTag.count({ where: { subscriber: { email: { in: emails } } } });
    expect(tagged).toBe(60);
  });

  it('set-based items behave as one by one: an absent name keeps the stored one, null clears it, attributes merge; an externalId item that moves its subscriber off an email comes first for a later item of that email', async () => {
    await api.subscriber({ email: 'keep@order.test', firstName: 'Keep', lastName: 'Me', attributes: { a: 1 } });
    await api.subscriber({ email: 'old@order.test', externalId: 'ext-order-1', firstName: 'Moved' });
    const answer = await upsertMany([
      { email: 'keep@order.test', lastName: null, attributes: { b: 2 } },
      { email: 'new@order.test', externalId: 'ext-order-1' }, // moves ext-order-1 off old@order.test
      { email: 'old@order.test', firstName: 'Fresh' }, // so this one is a new subscriber
      { email: 'taken@order.test', externalId: 'ext-order-2' },
      { email: 'new@order.test', externalId: 'ext-order-3' }, // new@ is ext-order-1's now
    ]);
    expect(answer.errors).toEqual([{ field: ['input', 'subscribers', '4', 'externalId'], message: expect.any(String), code: 'EXTERNAL_ID_CONFLICT' }]);
    const rows = await t.prisma.subscriber.findMany({ where: { email: { endsWith: '@order.test' } }, orderBy: { email: 'asc' } });
    expect(rows.map((r) => [r.email, r.externalId, r.firstName, r.lastName, r.attributes])).toEqual([
      ['keep@order.test', null, 'Keep', null, { a: 1, b: 2 }],
      ['new@order.test', 'ext-order-1', 'Moved', null, {}],
      ['old@order.test', null, 'Fresh', null, {}],
      ['taken@order.test', 'ext-order-2', null, null, {}],
    ]);
    expect(answer.subscribers.map((s: { externalId: string | null } | null) => s?.externalId ?? null)).toEqual([null, 'ext-order-1', null, 'ext-order-2', null]);
  });

  it('accepts 1 to 1,000 subscribers', async () => {
    const answer = await upsertMany([]);
    expect(answer).toEqual({ subscribers: [], errors: [{ field: ['input', 'subscribers'], message: expect.stringContaining('1,000'), code: 'VALIDATION' }] });
  });
});

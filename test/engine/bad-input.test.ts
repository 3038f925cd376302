// Bad input to the run mutations: clear errors in the payload (field path and
// code), and nothing written — no subscriber, event, run, change or job.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { email, engineApi, settle } from './support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
let active: string;
let draft: string;
let paused: string;
let archived: string;
let ada: string;

beforeAll(async () => {
  api = engineApi(t, await t.workspace());
  const input = (name: string) => ({ name, trigger: 'EVENT_RECEIVED', eventName: 'signed_up', steps: [email(name)] });
  active = await api.sequence(input('Active'));
  draft = await api.sequence(input('Draft'), { enable: false });
  paused = await api.sequence(input('Paused'));
  await api.disable(paused);
  archived = await api.sequence(input('Archived'));
  await api.archive(archived);
  ada = await api.subscriber({ email: 'ada@bad.test', firstName: 'Ada' });
});

/** Row counts of everything a run mutation could write. */
async function snapshot() {
  const [jobs] = await t.prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name LIKE 'stepwise.%'`);
  return {
    subscribers: await t.prisma.subscriber.count(),
    tags: await t.prisma.subscriberTag.count(),
    events: await t.prisma.event.count(),
    runs: await t.prisma.enrollment.count(),
    changes: await t.prisma.enrollmentChange.count(),
    messages: await t.prisma.message.count(),
    jobs: jobs!.n,
  };
}

/** Runs `call`, expects exactly `errors` in its payload, and that nothing was written. */
async function refused(call: () => Promise<any>, errors: unknown[], dataField: 'enrollment' | 'event') {
  await settle(t); // earlier runs' steps are not counted as writes of this call
  const before = await snapshot();
  const payload = await call();
  expect(payload.errors).toEqual(errors);
  expect(payload[dataField]).toBeNull();
  if (dataField === 'event') expect(payload.enrollments).toEqual([]);
  expect(await snapshot()).toEqual(before);
}

const error = (field: string[], code: string, message: unknown = expect.any(String)) => ({ field, code, message });

describe('trackEvent', () => {
  it('refuses a malformed email, a missing subscriber and an unknown subscriber ID', async () => {
    await refused(() => api.trackRaw({ email: 'not-an-email', event: 'signed_up' }), [error(['input', 'email'], 'VALIDATION', 'email must be a valid email address')], 'event');
    await refused(() => api.trackRaw({ event: 'signed_up' }), [error(['input', 'subscriberId'], 'VALIDATION', 'subscriberId give subscriberId, externalId or email')], 'event');
    await refused(
      () => api.trackRaw({ subscriberId: 'sub_00000000000000000000000000', event: 'signed_up' }),
      [error(['input', 'subscriberId'], 'NOT_FOUND', 'Subscriber not found')],
      'event',
    );
    await refused(() => api.trackRaw({ email: 'new@bad.test', event: '  ' }), [error(['input', 'event'], 'VALIDATION')], 'event');
    expect(await t.prisma.subscriber.count({ where: { email: 'new@bad.test' } })).toBe(0);
  });

  it('refuses properties that are not an object', async () => {
    for (const properties of [[1, 2], 'text', 42, true]) {
      await refused(
        () => api.trackRaw({ email: 'props@bad.test', event: 'signed_up', properties }),
        [error(['input', 'properties'], 'VALIDATION', 'properties must be a JSON object')],
        'event',
      );
    }
    // Several mistakes are reported together.
    await refused(
      () => api.trackRaw({ email: 'nope', event: 'signed_up', properties: [1] }),
      expect.arrayContaining([error(['input', 'email'], 'VALIDATION'), error(['input', 'properties'], 'VALIDATION')]) as never,
      'event',
    );
  });

  it('refuses an idempotency key reused with different data, keeping the first call as it was', async () => {
    const first = await api.track({ email: 'idem@bad.test', event: 'signed_up', properties: { plan: 'pro' }, idempotencyKey: 'bad-idem-1' });
    expect(first.enrollments).toHaveLength(1);
    const conflict = [error(['input', 'idempotencyKey'], 'IDEMPOTENCY_CONFLICT', 'This idempotencyKey was already used for a different event')];
    await refused(() => api.trackRaw({ email: 'idem@bad.test', event: 'signed_up', properties: { plan: 'free' }, idempotencyKey: 'bad-idem-1' }), conflict, 'event');
    await refused(() => api.trackRaw({ email: 'idem@bad.test', event: 'upgraded', properties: { plan: 'pro' }, idempotencyKey: 'bad-idem-1' }), conflict, 'event');
    // Another subscriber (a new email) is not created either.
    await refused(() => api.trackRaw({ email: 'other@bad.test', event: 'signed_up', properties: { plan: 'pro' }, idempotencyKey: 'bad-idem-1' }), conflict, 'event');
    await refused(() => api.trackRaw({ subscriberId: ada, event: 'signed_up', properties: { plan: 'pro' }, idempotencyKey: 'bad-idem-1' }), conflict, 'event');
    const event = await t.prisma.event.findFirstOrThrow({ where: { idempotencyKey: 'bad-idem-1' } });
    expect(event.properties).toEqual({ plan: 'pro' });
    expect(await t.prisma.subscriber.count({ where: { email: 'other@bad.test' } })).toBe(0);
  });
});

describe('enrollSubscriber', () => {
  it('refuses an unknown sequence, including one of another workspace', async () => {
    const elsewhere = engineApi(t, await t.workspace('Elsewhere'));
    const foreign = await elsewhere.sequence({ name: 'Foreign', trigger: 'MANUAL', steps: [email('Foreign')] });
    for (const sequenceId of ['seq_00000000000000000000000000', 'garbage', foreign]) {
      await refused(
        () => api.enrollRaw({ sequenceId, subscriber: { email: 'unknown-seq@bad.test' } }),
        [error(['input', 'sequenceId'], 'NOT_FOUND', 'Sequence not found')],
        'enrollment',
      );
    }
  });

  it('refuses a sequence that is not active (draft, paused, archived)', async () => {
    for (const [sequenceId, status] of [
      [draft, 'draft'],
      [paused, 'paused'],
      [archived, 'archived'],
    ] as const) {
      await refused(
        () => api.enrollRaw({ sequenceId, subscriber: { email: 'inactive@bad.test', tags: ['x'] } }),
        [error(['input', 'sequenceId'], 'SEQUENCE_NOT_ACTIVE', expect.stringContaining(`The sequence is ${status}`))],
        'enrollment',
      );
    }
  });

  it('refuses a malformed email and properties that are not an object', async () => {
    await refused(
      () => api.enrollRaw({ sequenceId: active, subscriber: { email: 'ada(at)bad.test' } }),
      [error(['input', 'subscriber', 'email'], 'VALIDATION', 'email must be a valid email address')],
      'enrollment',
    );
    for (const properties of [['a'], 'text', 7]) {
      await refused(
        () => api.enrollRaw({ sequenceId: active, subscriber: { email: 'props@bad.test' }, properties }),
        [error(['input', 'properties'], 'VALIDATION', 'properties must be a JSON object')],
        'enrollment',
      );
    }
  });

  it('refuses an idempotency key reused with different data; the same data returns the first run', async () => {
    const run = await api.enroll({ sequenceId: active, subscriber: { email: 'eve@bad.test' }, properties: { source: 'ads' }, idempotencyKey: 'bad-enroll-1' });
    const conflict = [error(['input', 'idempotencyKey'], 'IDEMPOTENCY_CONFLICT', 'This idempotencyKey was already used for a different enrollment')];
    await refused(
      () => api.enrollRaw({ sequenceId: active, subscriber: { email: 'eve@bad.test' }, properties: { source: 'mail' }, idempotencyKey: 'bad-enroll-1' }),
      conflict,
      'enrollment',
    );
    await refused(
      () => api.enrollRaw({ sequenceId: active, subscriber: { email: 'eve@bad.test' }, idempotencyKey: 'bad-enroll-1' }),
      conflict,
      'enrollment',
    );
    // Another subscriber: neither created nor tagged.
    await refused(
      () => api.enrollRaw({ sequenceId: active, subscriber: { email: 'mallory@bad.test', tags: ['t'] }, properties: { source: 'ads' }, idempotencyKey: 'bad-enroll-1' }),
      conflict,
      'enrollment',
    );
    expect(await t.prisma.subscriber.count({ where: { email: 'mallory@bad.test' } })).toBe(0);
    const again = await api.enroll({ sequenceId: active, subscriber: { email: 'eve@bad.test' }, properties: { source: 'ads' }, idempotencyKey: 'bad-enroll-1' });
    expect(again.id).toBe(run.id);
  });
});

describe('removeSubscriberFromSequence', () => {
  it('refuses an unknown sequence and a malformed email', async () => {
    await refused(
      () => api.remove({ sequenceId: 'seq_00000000000000000000000000', email: 'ada@bad.test' }),
      [error(['input', 'sequenceId'], 'NOT_FOUND', 'Sequence not found')],
      'enrollment',
    );
    await refused(() => api.remove({ sequenceId: active, email: 'ada-at-bad' }), [error(['input', 'email'], 'VALIDATION')], 'enrollment');
  });
});

import { describe, expect, it } from 'vitest';
import {
  dayStart,
  decideStart,
  emptyStartFacts,
  nextDayStart,
  openKeyOf,
  recordStart,
  releasable,
  requestKey,
  throttleHold,
  type StartFacts,
  type StartRequest,
  type StartSequence,
} from '../../src/domain/run-machine/start.js';

const base: StartSequence = {
  id: 'seq',
  enrollmentMode: 'UNLIMITED',
  enrollmentFieldPath: null,
  triggerEventName: 'shopify.back_in_stock',
  maxActivations: null,
  throttleCapacity: null,
  throttleMaxAddsPerDay: null,
  throttlePaused: false,
};
const matching: StartSequence = { ...base, enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: 'product.providerVariantId' };
const alice: StartRequest = { subscriberId: 'alice', eventName: 'shopify.back_in_stock', properties: { product: { providerVariantId: 'v_42' } } };
const bob: StartRequest = { ...alice, subscriberId: 'bob' };

/** Decides requests in order, as the engine does for a batch. */
function decideAll(sequence: StartSequence, requests: StartRequest[], facts: StartFacts = emptyStartFacts()) {
  return requests.map((request, i) => {
    const decision = decideStart(sequence, request, facts);
    facts = recordStart(facts, request, decision, `run${i}`);
    return decision;
  });
}

describe('decideStart', () => {
  it('UNLIMITED starts every request', () => {
    expect(decideAll(base, [alice, alice, bob]).map((d) => d.kind)).toEqual(['start', 'start', 'start']);
  });

  it('refuses a second run with the same idempotency key, naming the first', () => {
    const request = { ...alice, idempotencyKey: 'k1' };
    const [first, second] = decideAll(base, [request, request]);
    expect(first).toEqual({ kind: 'start', status: 'ACTIVE', enrollmentKey: null });
    expect(second).toMatchObject({ kind: 'refuse', code: 'DUPLICATE', enrollmentId: 'run0' });
    const stored = { ...emptyStartFacts(), idempotent: new Map([['k1', 'old']]) };
    expect(decideStart(base, request, stored)).toMatchObject({ kind: 'refuse', code: 'DUPLICATE', enrollmentId: 'old' });
  });

  it('ONE_TIME: once per subscriber ever, other subscribers unaffected', () => {
    const sequence: StartSequence = { ...base, enrollmentMode: 'ONE_TIME' };
    expect(decideAll(sequence, [alice, alice, bob]).map((d) => (d.kind === 'refuse' ? d.code : d.status))).toEqual(['ACTIVE', 'ONE_TIME', 'ACTIVE']);
    expect(decideStart(sequence, alice, { ...emptyStartFacts(), ranBefore: new Set(['alice']) })).toMatchObject({ code: 'ONE_TIME' });
  });

  it('MATCHING_FIELD is per subscriber: two subscribers waiting for one variant both start; the same subscriber twice is ALREADY_ACTIVE', () => {
    const decisions = decideAll(matching, [alice, bob, alice]);
    expect(decisions[0]).toEqual({ kind: 'start', status: 'ACTIVE', enrollmentKey: 'event:shopify.back_in_stock:field:product.providerVariantId:v_42' });
    expect(decisions[1]).toMatchObject({ kind: 'start', status: 'ACTIVE' });
    expect(decisions[2]).toMatchObject({ kind: 'refuse', code: 'ALREADY_ACTIVE', enrollmentId: 'run0' });
    // Another variant is another key for the same subscriber.
    const other = { ...alice, properties: { product: { providerVariantId: 'v_43' } } };
    expect(decideAll(matching, [alice, other]).map((d) => d.kind)).toEqual(['start', 'start']);
    // An open run loaded from the database counts the same way.
    const open = { ...emptyStartFacts(), openKeys: new Map([[openKeyOf('alice', requestKey(matching, alice)!), 'old']]) };
    expect(decideStart(matching, alice, open)).toMatchObject({ code: 'ALREADY_ACTIVE', enrollmentId: 'old' });
    expect(decideStart(matching, bob, open)).toMatchObject({ kind: 'start' });
  });

  it('MATCHING_FIELD without a key is refused with NO_ENROLLMENT_KEY, naming where it looked', () => {
    const decision = decideStart({ ...matching, enrollmentFieldPath: null }, { ...alice, properties: { note: 'x' } }, emptyStartFacts());
    expect(decision).toMatchObject({ kind: 'refuse', code: 'NO_ENROLLMENT_KEY' });
    expect(decision.kind === 'refuse' && decision.reason).toContain('product.providerVariantId');
  });

  it('MATCHING_FIELD without a field path uses the built-in product/variant fields', () => {
    const sequence = { ...matching, enrollmentFieldPath: null };
    expect(requestKey(sequence, { subscriberId: 'a', eventName: 'e', properties: { variantId: 7, productId: 1 } })).toBe('event:e:field:variantId:7');
    expect(requestKey(sequence, { subscriberId: 'a', eventName: 'e', properties: { enrollmentKey: 'k', variantId: 7 } })).toBe('event:e:field:enrollmentKey:k');
    expect(requestKey(base, alice)).toBeNull();
  });

  it('MAX_ACTIVATIONS counts every run ever started, the batch included', () => {
    const sequence = { ...base, maxActivations: 2 };
    expect(decideAll(sequence, [alice, bob, alice]).map((d) => (d.kind === 'refuse' ? d.code : d.status))).toEqual(['ACTIVE', 'ACTIVE', 'MAX_ACTIVATIONS']);
    expect(decideStart(sequence, alice, { ...emptyStartFacts(), runs: 2 })).toMatchObject({ code: 'MAX_ACTIVATIONS' });
  });

  it('throttles queue instead of refusing: paused, at capacity, or at the daily limit', () => {
    expect(decideStart({ ...base, throttlePaused: true }, alice, emptyStartFacts())).toMatchObject({ kind: 'start', status: 'QUEUED', code: 'THROTTLE_PAUSED' });
    expect(decideAll({ ...base, throttleCapacity: 1 }, [alice, bob]).map((d) => (d.kind === 'start' ? d.status : d.code))).toEqual(['ACTIVE', 'QUEUED']);
    expect(decideAll({ ...base, throttleMaxAddsPerDay: 1 }, [alice, bob])[1]).toMatchObject({ status: 'QUEUED', code: 'THROTTLE_DAILY_LIMIT' });
    // Queued runs count towards maxActivations but not towards capacity.
    const facts = recordStart(emptyStartFacts(), alice, { kind: 'start', status: 'QUEUED', enrollmentKey: null, code: 'THROTTLE_PAUSED', reason: '' }, 'q');
    expect(facts).toMatchObject({ runs: 1, inProgress: 0, begunToday: 0 });
  });

  it('applies the rules in order: a duplicate key wins over every other refusal', () => {
    const sequence = { ...matching, maxActivations: 0 };
    const request = { ...alice, idempotencyKey: 'k' };
    const facts = { ...emptyStartFacts(), idempotent: new Map([['k', 'old']]) };
    expect(decideStart(sequence, request, facts)).toMatchObject({ code: 'DUPLICATE' });
    expect(decideStart(sequence, alice, emptyStartFacts())).toMatchObject({ code: 'MAX_ACTIVATIONS' });
  });

  it('a refusal leaves the facts unchanged', () => {
    const facts = emptyStartFacts();
    const decision = decideStart({ ...base, maxActivations: 0 }, alice, facts);
    expect(recordStart(facts, alice, decision, 'x')).toEqual(emptyStartFacts());
  });
});

describe('dayStart', () => {
  it('is midnight UTC of the day', () => {
    expect(dayStart(new Date('2026-11-30T23:59:59.999Z')).toISOString()).toBe('2026-11-30T00:00:00.000Z');
  });
});

describe('releasable', () => {
  it('counts the room the capacity and the day’s limit leave, none while paused', () => {
    expect(releasable(base, { inProgress: 1_000, begunToday: 1_000 })).toBe(Number.POSITIVE_INFINITY);
    expect(releasable({ ...base, throttleCapacity: 5 }, { inProgress: 3, begunToday: 0 })).toBe(2);
    expect(releasable({ ...base, throttleMaxAddsPerDay: 10 }, { inProgress: 50, begunToday: 7 })).toBe(3);
    expect(releasable({ ...base, throttleCapacity: 5, throttleMaxAddsPerDay: 10 }, { inProgress: 4, begunToday: 2 })).toBe(1);
    expect(releasable({ ...base, throttleCapacity: 5 }, { inProgress: 9, begunToday: 0 })).toBe(0);
    expect(releasable({ ...base, throttlePaused: true }, { inProgress: 0, begunToday: 0 })).toBe(0);
  });

  it('agrees with throttleHold: room exactly when nothing holds a run', () => {
    for (const capacity of [null, 0, 1, 3]) {
      for (const perDay of [null, 1, 2]) {
        for (const inProgress of [0, 1, 3]) {
          for (const begunToday of [0, 1, 2]) {
            const sequence = { ...base, throttleCapacity: capacity, throttleMaxAddsPerDay: perDay };
            expect(releasable(sequence, { inProgress, begunToday }) > 0).toBe(throttleHold(sequence, { inProgress, begunToday }) === null);
          }
        }
      }
    }
  });

  it('counts the day afresh from the next UTC midnight', () => {
    expect(nextDayStart(new Date('2026-03-29T23:59:59.999Z'))).toEqual(new Date('2026-03-30T00:00:00.000Z'));
    expect(nextDayStart(new Date('2026-03-30T00:00:00.000Z'))).toEqual(new Date('2026-03-31T00:00:00.000Z'));
  });
});

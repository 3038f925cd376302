import { describe, expect, it } from 'vitest';
import { enrollmentKey } from '../../src/domain/enrollment-key.js';

const base = { eventName: 'order_completed', fieldPath: 'order.id' };

describe('enrollmentKey', () => {
  it('uses the value at fieldPath', () => {
    expect(enrollmentKey({ ...base, properties: { order: { id: 'o_1' } } })).toBe(
      'event:order_completed:field:order.id:o_1',
    );
  });

  it('stringifies numbers, booleans and objects', () => {
    expect(enrollmentKey({ ...base, properties: { order: { id: 42 } } })).toBe('event:order_completed:field:order.id:42');
    expect(enrollmentKey({ ...base, properties: { order: { id: false } } })).toBe(
      'event:order_completed:field:order.id:false',
    );
    expect(enrollmentKey({ ...base, properties: { order: { id: { a: 1 } } } })).toBe(
      'event:order_completed:field:order.id:{"a":1}',
    );
    expect(enrollmentKey({ ...base, fieldPath: 'items.0', properties: { items: ['sku1'] } })).toBe(
      'event:order_completed:field:items.0:sku1',
    );
  });

  it('prefers sequenceEnrollmentKey, then enrollmentKey', () => {
    const properties = { sequenceEnrollmentKey: 'cart-7', enrollmentKey: 'other', order: { id: 'o_1' } };
    expect(enrollmentKey({ ...base, properties })).toBe('event:order_completed:field:sequenceEnrollmentKey:cart-7');
    expect(enrollmentKey({ ...base, properties: { enrollmentKey: 99, order: { id: 'o_1' } } })).toBe(
      'event:order_completed:field:enrollmentKey:99',
    );
  });

  it('ignores override keys that are not strings or numbers', () => {
    const properties = { sequenceEnrollmentKey: { nested: true }, enrollmentKey: '', order: { id: 'o_1' } };
    expect(enrollmentKey({ ...base, properties })).toBe('event:order_completed:field:order.id:o_1');
  });

  it('returns null when there is no value', () => {
    expect(enrollmentKey({ ...base, properties: {} })).toBeNull();
    expect(enrollmentKey({ ...base, properties: { order: { id: null } } })).toBeNull();
    expect(enrollmentKey({ ...base, properties: { order: { id: '' } } })).toBeNull();
    expect(enrollmentKey({ ...base, properties: { order: 'flat' } })).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_FIELDS, MATCHING_FIELD_EVENTS, defaultEnrollmentMode, enrollmentKey } from '../../src/domain/enrollment-key.js';

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

describe('built-in key fields (no enrollmentFieldPath)', () => {
  const key = (properties: Record<string, unknown>) => enrollmentKey({ eventName: 'shopify.back_in_stock', fieldPath: null, properties });

  it('takes the first present of the documented product/variant fields, in order', () => {
    const all = { product: { providerVariantId: 'pv', variantId: 'pvid', id: 'pid' }, variant: { id: 'vid' }, variantId: 'v', productId: 'p' };
    expect(key(all)).toBe('event:shopify.back_in_stock:field:product.providerVariantId:pv');
    expect(key({ ...all, product: { variantId: 'pvid', id: 'pid' } })).toBe('event:shopify.back_in_stock:field:variant.id:vid');
    expect(key({ product: { variantId: 'pvid', id: 'pid' }, variantId: 'v' })).toBe('event:shopify.back_in_stock:field:product.variantId:pvid');
    expect(key({ variantId: 'v', productId: 'p' })).toBe('event:shopify.back_in_stock:field:variantId:v');
    expect(key({ product: { id: 'pid' }, productId: 'p' })).toBe('event:shopify.back_in_stock:field:product.id:pid');
    expect(key({ productId: 5 })).toBe('event:shopify.back_in_stock:field:productId:5');
    expect(DEFAULT_KEY_FIELDS).toEqual(['product.providerVariantId', 'variant.id', 'product.variantId', 'variantId', 'product.id', 'productId']);
  });

  it('prefers the explicit keys, and is null when nothing is there', () => {
    expect(key({ enrollmentKey: 'e', variantId: 'v' })).toBe('event:shopify.back_in_stock:field:enrollmentKey:e');
    expect(key({ sequenceEnrollmentKey: 's', enrollmentKey: 'e' })).toBe('event:shopify.back_in_stock:field:sequenceEnrollmentKey:s');
    expect(key({ note: 'x', product: {} })).toBeNull();
  });
});

describe('defaultEnrollmentMode', () => {
  it('is MATCHING_FIELD for Shopify back-in-stock and replenishment events, UNLIMITED otherwise', () => {
    for (const name of MATCHING_FIELD_EVENTS) expect(defaultEnrollmentMode('EVENT_RECEIVED', name)).toBe('MATCHING_FIELD');
    expect(MATCHING_FIELD_EVENTS).toContain('shopify.back_in_stock');
    expect(MATCHING_FIELD_EVENTS).toContain('shopify.replenishment');
    expect(defaultEnrollmentMode('EVENT_RECEIVED', 'order.placed')).toBe('UNLIMITED');
    expect(defaultEnrollmentMode('FREQUENCY', 'shopify.back_in_stock')).toBe('UNLIMITED');
    expect(defaultEnrollmentMode('CONTACT_ADDED', null)).toBe('UNLIMITED');
  });
});

// MATCHING_FIELD enrollment: which value of an event names "the same enrollment"
// (one subscriber may have one open run per key), and which sequences use that
// mode when none is given.
import { getPath } from './json-path.js';

export interface EnrollmentKeyInput {
  eventName: string;
  /** The sequence's enrollmentFieldPath; null or empty: the built-in defaults below. */
  fieldPath: string | null;
  properties: Record<string, unknown>;
}

// Checked in this order; lets senders pin the key explicitly regardless of the configured path.
const OVERRIDE_KEYS = ['sequenceEnrollmentKey', 'enrollmentKey'] as const;

/**
 * Without an enrollmentFieldPath the key is the first of these present in the
 * event: the product/variant fields that Shopify-style back-in-stock and
 * replenishment events carry (most specific first).
 */
export const DEFAULT_KEY_FIELDS = ['product.providerVariantId', 'variant.id', 'product.variantId', 'variantId', 'product.id', 'productId'] as const;

/**
 * Event names whose sequences default to MATCHING_FIELD when created without an
 * enrollment mode: a subscriber waits once per product, not once per event.
 */
export const MATCHING_FIELD_EVENTS = [
  'shopify.back_in_stock',
  'shopify.product_back_in_stock',
  'shopify.replenishment',
  'shopify.replenishment_due',
] as const;

export type EnrollmentMode = 'UNLIMITED' | 'ONE_TIME' | 'MATCHING_FIELD';

/** The mode of a sequence created without one. */
export function defaultEnrollmentMode(trigger: string, eventName: string | null | undefined): EnrollmentMode {
  return trigger === 'EVENT_RECEIVED' && (MATCHING_FIELD_EVENTS as readonly string[]).includes(eventName ?? '') ? 'MATCHING_FIELD' : 'UNLIMITED';
}

function stringifyKeyValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return null;
}

/**
 * Key that identifies "the same enrollment" in MATCHING_FIELD mode:
 * `event:<eventName>:field:<path>:<value>`, where path is the field the value
 * came from. Null when there is no value to match on.
 */
export function enrollmentKey({ eventName, fieldPath, properties }: EnrollmentKeyInput): string | null {
  for (const name of OVERRIDE_KEYS) {
    const override = properties[name];
    if ((typeof override === 'string' && override !== '') || typeof override === 'number') {
      return `event:${eventName}:field:${name}:${String(override)}`;
    }
  }
  const paths: readonly string[] = fieldPath ? [fieldPath] : DEFAULT_KEY_FIELDS;
  for (const path of paths) {
    const value = stringifyKeyValue(getPath(properties, path));
    if (value !== null) return `event:${eventName}:field:${path}:${value}`;
  }
  return null;
}

/** Where a key was looked for, for the reason given when there is none. */
export function keySources(fieldPath: string | null): string {
  const paths = fieldPath ? [fieldPath] : DEFAULT_KEY_FIELDS;
  return [...OVERRIDE_KEYS, ...paths].join(', ');
}

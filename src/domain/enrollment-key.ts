import { getPath } from './json-path.js';

export interface EnrollmentKeyInput {
  eventName: string;
  fieldPath: string;
  properties: Record<string, unknown>;
}

// Checked in this order; lets senders pin the key explicitly regardless of the configured path.
const OVERRIDE_KEYS = ['sequenceEnrollmentKey', 'enrollmentKey'] as const;

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
 * `event:<eventName>:field:<path>:<value>`. Null when there is no value to match on.
 */
export function enrollmentKey({ eventName, fieldPath, properties }: EnrollmentKeyInput): string | null {
  for (const name of OVERRIDE_KEYS) {
    const override = properties[name];
    if ((typeof override === 'string' && override !== '') || typeof override === 'number') {
      return `event:${eventName}:field:${name}:${String(override)}`;
    }
  }
  const value = stringifyKeyValue(getPath(properties, fieldPath));
  return value === null ? null : `event:${eventName}:field:${fieldPath}:${value}`;
}

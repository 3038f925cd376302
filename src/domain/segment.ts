/**
 * # Segment definitions
 *
 * A segment is a saved filter over subscribers, written as JSON:
 *
 * ```json
 * {
 *   "match": "all",
 *   "conditions": [
 *     { "attribute": "plan.tier", "op": "eq", "value": "pro" },
 *     { "tag": "customer" },
 *     { "list": "list_123", "op": "not_in" },
 *     { "event": "order_completed", "op": "count_gte", "value": 2, "withinDays": 30 },
 *     {
 *       "match": "any",
 *       "conditions": [
 *         { "attribute": "country", "op": "eq", "value": "DE" },
 *         { "attribute": "email", "op": "contains", "value": "@example.de" }
 *       ]
 *     }
 *   ]
 * }
 * ```
 *
 * - `match`: `"all"` (every condition holds) or `"any"` (at least one holds).
 *   `conditions` must contain at least one entry.
 * - Attribute: `{ attribute, op, value? }`. `attribute` is a dot path into the
 *   subscriber's custom attributes (`plan.tier`, `items.0.sku`); the path `email`
 *   means the subscriber's email address. Ops:
 *   - `eq` / `neq`: JSON equality (`neq` also holds when the attribute is missing);
 *   - `gt` / `gte` / `lt` / `lte`: numbers compare numerically (numeric strings in
 *     the attribute are accepted), strings lexicographically, so ISO-8601 dates work;
 *     a missing attribute never matches;
 *   - `contains`: case-insensitive substring for strings, element equality for arrays;
 *   - `exists` / `not_exists`: whether the attribute is present and not null (no `value`).
 * - Tag: `{ tag, op? }` with op `has` (default) or `not_has`.
 * - List: `{ list, op? }` with a list id and op `in` (default) or `not_in`.
 * - Event: `{ event, op, value, withinDays? }` compares how many times the
 *   subscriber triggered the named event (optionally within the last N days)
 *   using `count_gte`, `count_lte` or `count_eq`.
 * - Group: `{ match, conditions }` nests another group. The top level counts as
 *   depth 1; groups may nest up to depth 3.
 * - Limits: at most 100 conditions in all (groups included, at every depth);
 *   attribute paths at most 256 characters and 16 segments.
 *
 * Membership is evaluated in the database, one statement per batch of
 * subscribers (src/services/segment-sql.ts compiles a definition to one SQL
 * predicate); `matchesSegment` below is the same rules in TypeScript, the
 * reference the SQL is tested against. Where the two could differ they are
 * pinned down: numeric strings are decimal only (`12`, `-1.5`, `2e3`, at most
 * 100 characters); strings compare by code point.
 */
import { z } from 'zod';
import { dotPathSchema, getPath } from './json-path.js';
import { jsonLimitProblem } from './json-limits.js';

export const MAX_SEGMENT_DEPTH = 3;
/** Conditions in one definition, groups included, at every depth. */
export const MAX_SEGMENT_CONDITIONS = 100;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export const ATTRIBUTE_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists', 'not_exists'] as const;
export type AttributeOp = (typeof ATTRIBUTE_OPS)[number];
export const EVENT_OPS = ['count_gte', 'count_lte', 'count_eq'] as const;
export type EventOp = (typeof EVENT_OPS)[number];
export type MatchMode = 'all' | 'any';

export interface AttributeCondition {
  attribute: string;
  op: AttributeOp;
  value?: JsonValue;
}
export interface TagCondition {
  tag: string;
  op?: 'has' | 'not_has';
}
export interface ListCondition {
  list: string;
  op?: 'in' | 'not_in';
}
export interface EventCondition {
  event: string;
  op: EventOp;
  value: number;
  withinDays?: number;
}
export interface SegmentGroup {
  match: MatchMode;
  conditions: SegmentCondition[];
}
export type SegmentCondition = AttributeCondition | TagCondition | ListCondition | EventCondition | SegmentGroup;
export type SegmentDefinition = SegmentGroup;

/** What the evaluator needs to know about one subscriber. */
export interface SegmentFacts {
  attributes: Record<string, unknown>;
  email: string;
  tags: Set<string>;
  listIds: Set<string>;
  eventCounts: (name: string, withinDays?: number) => number;
}

const name = (what: string) => z.string().trim().min(1, `${what} must not be empty`).max(200);
const matchSchema = z.enum(['all', 'any']);

const attributeConditionSchema = z
  .strictObject({
    attribute: z.string().trim().pipe(dotPathSchema('"plan.tier"')),
    op: z.enum(ATTRIBUTE_OPS),
    value: z.json().optional(),
  })
  .superRefine((condition, ctx) => {
    const unary = condition.op === 'exists' || condition.op === 'not_exists';
    if (unary && condition.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `must be omitted for op "${condition.op}"` });
    }
    if (!unary && condition.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `is required for op "${condition.op}"` });
    }
    const ordered = ['gt', 'gte', 'lt', 'lte'].includes(condition.op);
    if (ordered && condition.value !== undefined && typeof condition.value !== 'number' && typeof condition.value !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `must be a number or string for op "${condition.op}"` });
    }
  });

const tagConditionSchema = z.strictObject({
  tag: name('tag'),
  op: z.enum(['has', 'not_has']).default('has'),
});

const listConditionSchema = z.strictObject({
  list: name('list'),
  op: z.enum(['in', 'not_in']).default('in'),
});

const eventConditionSchema = z.strictObject({
  event: name('event'),
  op: z.enum(EVENT_OPS),
  value: z.int().min(0),
  withinDays: z.int().min(1).optional(),
});

/*
 * Conditions are dispatched on their identifying key instead of z.union, so a
 * typo yields "value: is required" rather than a generic "Invalid input".
 */
function conditionSchemaAt(depth: number): z.ZodType<SegmentCondition> {
  return z.unknown().transform((input, ctx): SegmentCondition => {
    const schema = pickConditionSchema(input, depth);
    if (typeof schema === 'string') {
      ctx.addIssue({ code: 'custom', message: schema });
      return z.NEVER;
    }
    const result = schema.safeParse(input);
    if (!result.success) {
      for (const issue of result.error.issues) {
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      }
      return z.NEVER;
    }
    return result.data;
  });
}

function pickConditionSchema(input: unknown, depth: number): z.ZodType<SegmentCondition> | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'must be a condition object';
  if ('attribute' in input) return attributeConditionSchema;
  if ('tag' in input) return tagConditionSchema;
  if ('list' in input) return listConditionSchema;
  if ('event' in input) return eventConditionSchema;
  if ('match' in input || 'conditions' in input) {
    return depth < MAX_SEGMENT_DEPTH ? groupSchemaAt(depth + 1) : `groups may nest at most ${MAX_SEGMENT_DEPTH} levels deep`;
  }
  return 'must have one of "attribute", "tag", "list", "event" or "match"';
}

function groupSchemaAt(depth: number): z.ZodType<SegmentGroup> {
  return z.strictObject({
    match: matchSchema,
    conditions: z.array(conditionSchemaAt(depth)).min(1, 'must contain at least one condition'),
  });
}

/** Counted on the raw input, before the recursive schema walks it. */
function countConditions(input: unknown): number {
  let count = 0;
  const stack = [input];
  while (stack.length) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null || !('conditions' in current)) continue;
    const { conditions } = current as { conditions: unknown };
    if (!Array.isArray(conditions)) continue;
    count += conditions.length;
    stack.push(...conditions);
  }
  return count;
}

export const segmentDefinitionSchema: z.ZodType<SegmentDefinition> = z
  .unknown()
  .superRefine((input, ctx) => {
    const problem =
      countConditions(input) > MAX_SEGMENT_CONDITIONS
        ? `must have at most ${MAX_SEGMENT_CONDITIONS} conditions in all`
        : jsonLimitProblem(input);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .pipe(groupSchemaAt(1)) as z.ZodType<SegmentDefinition>;

function isGroup(condition: SegmentCondition): condition is SegmentGroup {
  return 'conditions' in condition;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const aKeys = Object.keys(a);
    const bRecord = b as Record<string, unknown>;
    return (
      aKeys.length === Object.keys(b).length &&
      aKeys.every((key) => Object.hasOwn(b, key) && jsonEqual((a as Record<string, unknown>)[key], bRecord[key]))
    );
  }
  return false;
}

/**
 * Strings an ordered comparison with a number reads as numbers: decimal notation
 * with a two-digit exponent at most, up to 100 characters (so the value is always
 * a finite double, in TypeScript and in SQL alike).
 */
export const NUMERIC_STRING = /^[ \t\n\r]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})?[ \t\n\r]*$/;
export const MAX_NUMERIC_STRING = 100;

/** -1/0/1, or null when the two values are not comparable. */
function compare(actual: unknown, expected: unknown): number | null {
  if (typeof expected === 'number') {
    const numeric = typeof actual === 'string' && actual.length <= MAX_NUMERIC_STRING && NUMERIC_STRING.test(actual);
    const n = typeof actual === 'number' ? actual : numeric ? Number(actual) : NaN;
    return Number.isFinite(n) ? Math.sign(n - expected) : null;
  }
  if (typeof expected === 'string' && typeof actual === 'string') {
    // By code point, as the database compares (COLLATE "C"), not by UTF-16 unit.
    const [a, b] = [[...actual], [...expected]];
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = a[i]!.codePointAt(0)! - b[i]!.codePointAt(0)!;
      if (d) return Math.sign(d);
    }
    return Math.sign(a.length - b.length);
  }
  return null;
}

function attributeValue(facts: SegmentFacts, path: string): unknown {
  return path === 'email' ? facts.email : getPath(facts.attributes, path);
}

function matchesAttribute(condition: AttributeCondition, facts: SegmentFacts): boolean {
  const actual = attributeValue(facts, condition.attribute);
  const present = actual !== undefined && actual !== null;
  const { value } = condition;
  switch (condition.op) {
    case 'exists':
      return present;
    case 'not_exists':
      return !present;
    case 'eq':
      return jsonEqual(actual, value);
    case 'neq':
      return !jsonEqual(actual, value);
    case 'contains':
      if (typeof actual === 'string' && typeof value === 'string') {
        return actual.toLowerCase().includes(value.toLowerCase());
      }
      return Array.isArray(actual) && actual.some((item) => jsonEqual(item, value));
    default: {
      const order = compare(actual, value);
      if (order === null) return false;
      if (condition.op === 'gt') return order > 0;
      if (condition.op === 'gte') return order >= 0;
      if (condition.op === 'lt') return order < 0;
      return order <= 0;
    }
  }
}

function matchesCondition(condition: SegmentCondition, facts: SegmentFacts): boolean {
  if (isGroup(condition)) return matchesSegment(condition, facts);
  if ('attribute' in condition) return matchesAttribute(condition, facts);
  if ('tag' in condition) return facts.tags.has(condition.tag) === (condition.op !== 'not_has');
  if ('list' in condition) return facts.listIds.has(condition.list) === (condition.op !== 'not_in');
  const count = facts.eventCounts(condition.event, condition.withinDays);
  if (condition.op === 'count_gte') return count >= condition.value;
  if (condition.op === 'count_lte') return count <= condition.value;
  return count === condition.value;
}

/** Evaluates a (validated) definition against one subscriber's facts. */
export function matchesSegment(def: SegmentDefinition, facts: SegmentFacts): boolean {
  return def.match === 'all'
    ? def.conditions.every((condition) => matchesCondition(condition, facts))
    : def.conditions.some((condition) => matchesCondition(condition, facts));
}

function collect(def: SegmentDefinition, pick: (condition: SegmentCondition) => string | undefined): string[] {
  const found = new Set<string>();
  const walk = (group: SegmentGroup): void => {
    for (const condition of group.conditions) {
      if (isGroup(condition)) walk(condition);
      else {
        const value = pick(condition);
        if (value !== undefined) found.add(value);
      }
    }
  };
  walk(def);
  return [...found];
}

/** Event names whose arrival can change membership. */
export function referencedEvents(def: SegmentDefinition): string[] {
  return collect(def, (c) => ('event' in c ? c.event : undefined));
}

export function referencedTags(def: SegmentDefinition): string[] {
  return collect(def, (c) => ('tag' in c ? c.tag : undefined));
}

export function referencedLists(def: SegmentDefinition): string[] {
  return collect(def, (c) => ('list' in c ? c.list : undefined));
}

/** Attribute paths (including `email`) the definition reads. */
export function referencedAttributes(def: SegmentDefinition): string[] {
  return collect(def, (c) => ('attribute' in c ? c.attribute : undefined));
}

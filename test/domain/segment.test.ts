import { describe, expect, it } from 'vitest';
import { userErrorsFromZod } from '../../src/domain/errors.js';
import {
  matchesSegment,
  referencedAttributes,
  referencedEvents,
  referencedLists,
  referencedTags,
  segmentDefinitionSchema,
  type SegmentDefinition,
  type SegmentFacts,
} from '../../src/domain/segment.js';

const facts = (overrides: Partial<SegmentFacts> = {}): SegmentFacts => ({
  email: 'Ada@Example.com',
  attributes: {
    plan: { tier: 'pro', seats: 5 },
    country: 'DE',
    score: '42',
    signedUpAt: '2024-06-01T00:00:00Z',
    interests: ['tea', 'cake'],
    nothing: null,
  },
  tags: new Set(['customer', 'beta']),
  listIds: new Set(['list_1']),
  eventCounts: (name, withinDays) => {
    if (name !== 'order_completed') return 0;
    return withinDays === undefined ? 5 : withinDays >= 30 ? 2 : 0;
  },
  ...overrides,
});

const one = (condition: unknown): SegmentDefinition => segmentDefinitionSchema.parse({ match: 'all', conditions: [condition] });
const matches = (condition: unknown, f: SegmentFacts = facts()) => matchesSegment(one(condition), f);

describe('segmentDefinitionSchema', () => {
  it('parses the documented example and fills defaults', () => {
    const def = segmentDefinitionSchema.parse({
      match: 'all',
      conditions: [
        { attribute: 'plan.tier', op: 'eq', value: 'pro' },
        { tag: 'customer' },
        { list: 'list_123', op: 'not_in' },
        { event: 'order_completed', op: 'count_gte', value: 2, withinDays: 30 },
        {
          match: 'any',
          conditions: [
            { attribute: 'country', op: 'eq', value: 'DE' },
            { attribute: 'email', op: 'contains', value: '@example.de' },
          ],
        },
      ],
    });
    expect(def.conditions[1]).toEqual({ tag: 'customer', op: 'has' });
    expect(def.conditions[2]).toEqual({ list: 'list_123', op: 'not_in' });
    expect(one({ list: 'l' }).conditions[0]).toEqual({ list: 'l', op: 'in' });
  });

  it('allows nesting to depth 3 but not 4', () => {
    const nest = (depth: number): unknown =>
      depth === 1 ? { match: 'any', conditions: [{ tag: 't' }] } : { match: 'all', conditions: [nest(depth - 1)] };
    expect(segmentDefinitionSchema.safeParse(nest(3)).success).toBe(true);
    const result = segmentDefinitionSchema.safeParse(nest(4));
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toMatch(/at most 3 levels/);
    expect(result.error!.issues[0]!.path).toEqual(['conditions', 0, 'conditions', 0, 'conditions', 0]);
  });

  const issuesOf = (input: unknown) => {
    const result = segmentDefinitionSchema.safeParse(input);
    expect(result.success).toBe(false);
    return userErrorsFromZod(result.error!, ['definition']).map((e) => ({ field: e.field.join('.'), message: e.message }));
  };
  const cond = (condition: unknown) => issuesOf({ match: 'all', conditions: [condition] });

  it('requires at least one condition, also in nested groups', () => {
    expect(issuesOf({ match: 'all', conditions: [] })).toEqual([
      { field: 'definition.conditions', message: 'must contain at least one condition' },
    ]);
    expect(cond({ match: 'any', conditions: [] })[0]!.field).toBe('definition.conditions.0.conditions');
  });

  it('rejects a bad match mode and non-objects', () => {
    expect(issuesOf({ match: 'some', conditions: [{ tag: 't' }] })[0]!.field).toBe('definition.match');
    expect(issuesOf(null).length).toBeGreaterThan(0);
    expect(cond('tag:x')).toEqual([{ field: 'definition.conditions.0', message: 'must be a condition object' }]);
  });

  it('explains unrecognizable conditions', () => {
    expect(cond({ foo: 1 })[0]!.message).toMatch(/must have one of "attribute", "tag", "list", "event"/);
  });

  it('reports precise attribute errors', () => {
    expect(cond({ attribute: 'plan..tier', op: 'eq', value: 1 })).toEqual([
      { field: 'definition.conditions.0.attribute', message: 'must be a dot path such as "plan.tier"' },
    ]);
    expect(cond({ attribute: 'plan', op: 'eq' })).toEqual([
      { field: 'definition.conditions.0.value', message: 'is required for op "eq"' },
    ]);
    expect(cond({ attribute: 'plan', op: 'exists', value: true })).toEqual([
      { field: 'definition.conditions.0.value', message: 'must be omitted for op "exists"' },
    ]);
    expect(cond({ attribute: 'plan', op: 'gt', value: [1] })[0]!.message).toMatch(/number or string/);
    expect(cond({ attribute: 'plan', op: 'like', value: 'x' })[0]!.field).toBe('definition.conditions.0.op');
  });

  it('rejects mixed or unknown keys', () => {
    expect(cond({ attribute: 'a', op: 'exists', tag: 'x' })[0]!.message).toMatch(/Unrecognized key/);
    expect(cond({ tag: 'x', op: 'in' })[0]!.field).toBe('definition.conditions.0.op');
  });

  it('validates names and event counts', () => {
    expect(cond({ tag: '  ' })[0]!.message).toBe('tag must not be empty');
    expect(cond({ list: '' })[0]!.message).toBe('list must not be empty');
    expect(cond({ event: 'e', op: 'count_gte', value: -1 })[0]!.field).toBe('definition.conditions.0.value');
    expect(cond({ event: 'e', op: 'count_gte', value: 1.5 })[0]!.field).toBe('definition.conditions.0.value');
    expect(cond({ event: 'e', op: 'count_gte', value: 1, withinDays: 0 })[0]!.field).toBe(
      'definition.conditions.0.withinDays',
    );
    expect(cond({ event: 'e', op: 'count_gte' })[0]!.field).toBe('definition.conditions.0.value');
    expect(cond({ event: 'e', op: 'count_between', value: 1 })[0]!.field).toBe('definition.conditions.0.op');
  });
});

describe('matchesSegment', () => {
  it('eq / neq use JSON equality', () => {
    expect(matches({ attribute: 'plan.tier', op: 'eq', value: 'pro' })).toBe(true);
    expect(matches({ attribute: 'plan', op: 'eq', value: { seats: 5, tier: 'pro' } })).toBe(true);
    expect(matches({ attribute: 'interests', op: 'eq', value: ['tea', 'cake'] })).toBe(true);
    expect(matches({ attribute: 'interests', op: 'eq', value: ['cake', 'tea'] })).toBe(false);
    expect(matches({ attribute: 'plan.tier', op: 'eq', value: 'PRO' })).toBe(false);
    expect(matches({ attribute: 'plan.tier', op: 'neq', value: 'free' })).toBe(true);
    expect(matches({ attribute: 'missing', op: 'neq', value: 'x' })).toBe(true);
    expect(matches({ attribute: 'nothing', op: 'eq', value: null })).toBe(true);
  });

  it('ordered comparisons handle numbers, numeric strings and ISO dates', () => {
    expect(matches({ attribute: 'plan.seats', op: 'gt', value: 4 })).toBe(true);
    expect(matches({ attribute: 'plan.seats', op: 'gte', value: 5 })).toBe(true);
    expect(matches({ attribute: 'plan.seats', op: 'lt', value: 5 })).toBe(false);
    expect(matches({ attribute: 'plan.seats', op: 'lte', value: 5 })).toBe(true);
    expect(matches({ attribute: 'score', op: 'gte', value: 42 })).toBe(true);
    expect(matches({ attribute: 'signedUpAt', op: 'lt', value: '2025-01-01' })).toBe(true);
    expect(matches({ attribute: 'signedUpAt', op: 'gt', value: '2025-01-01' })).toBe(false);
  });

  it('ordered comparisons never match missing or incomparable values', () => {
    expect(matches({ attribute: 'missing', op: 'lt', value: 10 })).toBe(false);
    expect(matches({ attribute: 'missing', op: 'gte', value: 'a' })).toBe(false);
    expect(matches({ attribute: 'plan.tier', op: 'lt', value: 10 })).toBe(false);
    expect(matches({ attribute: 'plan.seats', op: 'lt', value: 'z' })).toBe(false);
    expect(matches({ attribute: 'plan', op: 'gt', value: 0 })).toBe(false);
  });

  it('contains is case-insensitive for strings and element-wise for arrays', () => {
    expect(matches({ attribute: 'email', op: 'contains', value: '@example.COM' })).toBe(true);
    expect(matches({ attribute: 'interests', op: 'contains', value: 'tea' })).toBe(true);
    expect(matches({ attribute: 'interests', op: 'contains', value: 'coffee' })).toBe(false);
    expect(matches({ attribute: 'plan.seats', op: 'contains', value: 5 })).toBe(false);
    expect(matches({ attribute: 'missing', op: 'contains', value: 'x' })).toBe(false);
  });

  it('exists / not_exists treat null as absent', () => {
    expect(matches({ attribute: 'country', op: 'exists' })).toBe(true);
    expect(matches({ attribute: 'nothing', op: 'exists' })).toBe(false);
    expect(matches({ attribute: 'nothing', op: 'not_exists' })).toBe(true);
    expect(matches({ attribute: 'a.b.c', op: 'not_exists' })).toBe(true);
  });

  it('email refers to the subscriber address', () => {
    expect(matches({ attribute: 'email', op: 'eq', value: 'Ada@Example.com' })).toBe(true);
    expect(matches({ attribute: 'email', op: 'exists' }, facts({ email: '', attributes: {} }))).toBe(true);
  });

  it('tags and lists', () => {
    expect(matches({ tag: 'customer' })).toBe(true);
    expect(matches({ tag: 'churned' })).toBe(false);
    expect(matches({ tag: 'churned', op: 'not_has' })).toBe(true);
    expect(matches({ tag: 'beta', op: 'not_has' })).toBe(false);
    expect(matches({ list: 'list_1' })).toBe(true);
    expect(matches({ list: 'list_2' })).toBe(false);
    expect(matches({ list: 'list_2', op: 'not_in' })).toBe(true);
  });

  it('event counts pass withinDays through', () => {
    expect(matches({ event: 'order_completed', op: 'count_gte', value: 5 })).toBe(true);
    expect(matches({ event: 'order_completed', op: 'count_gte', value: 3, withinDays: 30 })).toBe(false);
    expect(matches({ event: 'order_completed', op: 'count_eq', value: 2, withinDays: 30 })).toBe(true);
    expect(matches({ event: 'order_completed', op: 'count_eq', value: 0, withinDays: 7 })).toBe(true);
    expect(matches({ event: 'never', op: 'count_lte', value: 0 })).toBe(true);
    expect(matches({ event: 'order_completed', op: 'count_lte', value: 4 })).toBe(false);
  });

  it('combines conditions with all / any and nested groups', () => {
    const def = segmentDefinitionSchema.parse({
      match: 'all',
      conditions: [
        { tag: 'customer' },
        {
          match: 'any',
          conditions: [
            { attribute: 'country', op: 'eq', value: 'FR' },
            { match: 'all', conditions: [{ list: 'list_1' }, { attribute: 'plan.seats', op: 'gte', value: 5 }] },
          ],
        },
      ],
    });
    expect(matchesSegment(def, facts())).toBe(true);
    expect(matchesSegment(def, facts({ listIds: new Set() }))).toBe(false);
    expect(matchesSegment(def, facts({ listIds: new Set(), attributes: { country: 'FR' } }))).toBe(true);
    expect(matchesSegment(def, facts({ tags: new Set() }))).toBe(false);
  });

  it('any needs at least one match', () => {
    const def = segmentDefinitionSchema.parse({ match: 'any', conditions: [{ tag: 'x' }, { list: 'y' }] });
    expect(matchesSegment(def, facts())).toBe(false);
    expect(matchesSegment(def, facts({ tags: new Set(['x']) }))).toBe(true);
  });

  it('treats an omitted op on hand-built definitions as the default', () => {
    const def: SegmentDefinition = { match: 'all', conditions: [{ tag: 'customer' }, { list: 'list_1' }] };
    expect(matchesSegment(def, facts())).toBe(true);
  });
});

describe('referenced*', () => {
  const def = segmentDefinitionSchema.parse({
    match: 'any',
    conditions: [
      { tag: 'a' },
      { event: 'signup', op: 'count_gte', value: 1 },
      { attribute: 'plan.tier', op: 'exists' },
      {
        match: 'all',
        conditions: [
          { tag: 'b' },
          { tag: 'a', op: 'not_has' },
          { list: 'l1' },
          { match: 'any', conditions: [{ event: 'purchase', op: 'count_eq', value: 0 }, { list: 'l2', op: 'not_in' }] },
        ],
      },
      { event: 'signup', op: 'count_lte', value: 3 },
    ],
  });

  it('collects distinct names from every depth', () => {
    expect(referencedEvents(def)).toEqual(['signup', 'purchase']);
    expect(referencedTags(def)).toEqual(['a', 'b']);
    expect(referencedLists(def)).toEqual(['l1', 'l2']);
    expect(referencedAttributes(def)).toEqual(['plan.tier']);
  });

  it('returns empty arrays when nothing is referenced', () => {
    const tagsOnly = one({ tag: 'x' });
    expect(referencedEvents(tagsOnly)).toEqual([]);
    expect(referencedLists(tagsOnly)).toEqual([]);
  });
});

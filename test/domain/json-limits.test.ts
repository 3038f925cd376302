import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { boundedJson, jsonLimitProblem, MAX_JSON_DEPTH } from '../../src/domain/json-limits.js';
import { dotPathSchema, MAX_PATH_LENGTH, MAX_PATH_SEGMENTS } from '../../src/domain/json-path.js';
import { MAX_SEGMENT_CONDITIONS, segmentDefinitionSchema } from '../../src/domain/segment.js';

const nest = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
};

describe('JSON limits', () => {
  it('accepts values nested up to the documented depth and refuses deeper ones, however deep', () => {
    expect(jsonLimitProblem(nest(MAX_JSON_DEPTH))).toBeNull();
    expect(jsonLimitProblem(nest(MAX_JSON_DEPTH + 1))).toBe(`must not nest deeper than ${MAX_JSON_DEPTH} levels`);
    expect(jsonLimitProblem(nest(100_000))).toMatch(/deeper than 32/);
    expect(jsonLimitProblem(Array.from({ length: 20_000 }, () => 1))).toMatch(/at most 10000 values/);
  });

  it('boundedJson refuses before the recursive schema walks the value, and bounds the size', () => {
    const schema = boundedJson(z.record(z.string(), z.json()));
    expect(schema.safeParse(nest(50_000)).error!.issues.map((i) => i.message)).toEqual(['must not nest deeper than 32 levels']);
    expect(schema.safeParse({ big: 'x'.repeat(70_000) }).error!.issues[0]!.message).toBe('must be at most 64 KB as JSON');
    expect(schema.safeParse({ a: [1, { b: null }] }).data).toEqual({ a: [1, { b: null }] });
    // Bytes of UTF-8, not characters: 30,000 euro signs are 90,000 bytes.
    expect(schema.safeParse({ big: '€'.repeat(30_000) }).error!.issues[0]!.message).toBe('must be at most 64 KB as JSON');
    expect(schema.safeParse({ big: '€'.repeat(20_000) }).success).toBe(true);
  });
});

describe('dot path limits', () => {
  const messages = (path: string) => dotPathSchema('"a.b"').safeParse(path).error?.issues.map((i) => i.message);
  it('bounds length and segments with a message for each', () => {
    expect(messages('a.b.0.c')).toBeUndefined();
    expect(messages(Array.from({ length: MAX_PATH_SEGMENTS }, () => 'a').join('.'))).toBeUndefined();
    expect(messages(Array.from({ length: MAX_PATH_SEGMENTS + 1 }, () => 'a').join('.'))).toEqual([`must have at most ${MAX_PATH_SEGMENTS} segments`]);
    expect(messages(Array.from({ length: 5000 }, () => 'a').join('.'))).toEqual([`must be at most ${MAX_PATH_LENGTH} characters`]);
    expect(messages('a..b')).toEqual(['must be a dot path such as "a.b"']);
  });
});

describe('segment definition limits', () => {
  const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ tag: `t${i}` }));
  it(`allows ${MAX_SEGMENT_CONDITIONS} conditions in all, groups included, and refuses more`, () => {
    expect(segmentDefinitionSchema.safeParse({ match: 'all', conditions: tags(MAX_SEGMENT_CONDITIONS) }).success).toBe(true);
    const nested = { match: 'all', conditions: [...tags(60), { match: 'any', conditions: tags(40) }] };
    const result = segmentDefinitionSchema.safeParse(nested);
    expect(result.error!.issues.map((i) => i.message)).toEqual([`must have at most ${MAX_SEGMENT_CONDITIONS} conditions in all`]);
    expect(segmentDefinitionSchema.safeParse({ match: 'all', conditions: tags(19_000) }).success).toBe(false);
  });

  it('refuses deep values inside a condition without overflowing the stack', () => {
    const result = segmentDefinitionSchema.safeParse({ match: 'all', conditions: [{ attribute: 'a', op: 'eq', value: nest(5000) }] });
    expect(result.error!.issues[0]!.message).toMatch(/deeper than 32/);
  });
});

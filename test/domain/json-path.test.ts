import { describe, expect, it } from 'vitest';
import { getPath, isValidPath } from '../../src/domain/json-path.js';

describe('getPath', () => {
  const obj = { a: { b: { c: 1 } }, list: [{ sku: 'x' }, { sku: 'y' }], nil: null, zero: 0, empty: '' };

  it('reads nested values', () => {
    expect(getPath(obj, 'a.b.c')).toBe(1);
    expect(getPath(obj, 'a.b')).toEqual({ c: 1 });
    expect(getPath(obj, 'zero')).toBe(0);
    expect(getPath(obj, 'empty')).toBe('');
    expect(getPath(obj, 'nil')).toBeNull();
  });

  it('indexes arrays with numeric segments', () => {
    expect(getPath(obj, 'list.1.sku')).toBe('y');
    expect(getPath([10, 20], '0')).toBe(10);
  });

  it('returns undefined for missing links', () => {
    expect(getPath(obj, 'a.x.c')).toBeUndefined();
    expect(getPath(obj, 'list.5.sku')).toBeUndefined();
    expect(getPath(obj, 'list.first')).toBeUndefined();
    expect(getPath(obj, 'nil.deeper')).toBeUndefined();
    expect(getPath(obj, 'a.b.c.d')).toBeUndefined();
    expect(getPath(null, 'a')).toBeUndefined();
    expect(getPath('str', 'length')).toBeUndefined();
    expect(getPath(obj, '')).toBeUndefined();
  });

  it('does not expose prototype members', () => {
    expect(getPath({}, 'constructor')).toBeUndefined();
    expect(getPath({ a: {} }, 'a.__proto__')).toBeUndefined();
    expect(getPath([1], 'length')).toBeUndefined();
  });
});

describe('isValidPath', () => {
  it('accepts dot paths of word-ish segments', () => {
    for (const path of ['a', 'a.b', 'plan_tier.level-2', 'items.0.sku', 'A9']) {
      expect(isValidPath(path), path).toBe(true);
    }
  });

  it('rejects empty or malformed paths', () => {
    for (const path of ['', '.', 'a.', '.a', 'a..b', 'a b', 'a.b$', 'a/b', 'ä']) {
      expect(isValidPath(path), path).toBe(false);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { MAX_SLUG_LENGTH, slugify, uniqueSlug } from '../../src/domain/slug.js';

describe('slugify', () => {
  it.each([
    ['Welcome Series', 'welcome-series'],
    ['  Onboarding -- Week 1!  ', 'onboarding-week-1'],
    ['Café Crème Brûlée', 'cafe-creme-brulee'],
    ['Straße & Smørrebrød', 'strasse-smorrebrod'],
    ['ÆON Łódź', 'aeon-lodz'],
    ['Ｆｕｌｌｗｉｄｔｈ ２０２５', 'fullwidth-2025'],
    ['a_b.c/d', 'a-b-c-d'],
  ])('%j → %j', (input, expected) => {
    expect(slugify(input)).toBe(expected);
  });

  it('falls back to "sequence" when nothing survives', () => {
    expect(slugify('')).toBe('sequence');
    expect(slugify('!!! ---')).toBe('sequence');
    expect(slugify('日本語')).toBe('sequence');
    expect(slugify('🎉')).toBe('sequence');
  });

  it('caps the length without a trailing dash', () => {
    const slug = slugify(`${'a'.repeat(63)} tail`);
    expect(slug).toBe('a'.repeat(63));
    expect(slugify('word '.repeat(40)).length).toBeLessThanOrEqual(MAX_SLUG_LENGTH);
    expect(slugify('word '.repeat(40))).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });
});

describe('uniqueSlug', () => {
  it('returns the base when free', () => {
    expect(uniqueSlug('welcome', () => false)).toBe('welcome');
  });

  it('appends -2, -3, … until free', () => {
    const taken = new Set(['welcome', 'welcome-2', 'welcome-3']);
    expect(uniqueSlug('welcome', (s) => taken.has(s))).toBe('welcome-4');
  });

  it('shortens long bases to stay within the limit', () => {
    const base = 'a'.repeat(MAX_SLUG_LENGTH);
    const result = uniqueSlug(base, (s) => s === base);
    expect(result).toBe(`${'a'.repeat(MAX_SLUG_LENGTH - 2)}-2`);
    expect(result.length).toBe(MAX_SLUG_LENGTH);
  });

  it('does not produce a double dash when shortening at a separator', () => {
    const base = `${'a'.repeat(61)}-bc`; // 64 chars; cutting to 62 leaves a trailing dash
    expect(uniqueSlug(base, (s) => s === base)).toBe(`${'a'.repeat(61)}-2`);
  });

  it('gives up instead of looping forever', () => {
    expect(() => uniqueSlug('x', () => true, 5)).toThrow(/after 5 attempts/);
  });
});

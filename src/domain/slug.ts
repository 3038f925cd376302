export const MAX_SLUG_LENGTH = 64;
const FALLBACK_SLUG = 'sequence';

// Letters NFKD does not decompose into ASCII.
const TRANSLITERATIONS: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  đ: 'd',
  ð: 'd',
  ł: 'l',
  þ: 'th',
};

function trimDashes(value: string): string {
  return value.replace(/^-+|-+$/g, '');
}

/** URL-safe slug: lowercase ASCII, `-` separated, at most 64 chars, never empty. */
export function slugify(name: string): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[ßæœøđðłþ]/g, (ch) => TRANSLITERATIONS[ch] ?? '')
    .replace(/[^a-z0-9]+/g, '-');
  const slug = trimDashes(trimDashes(ascii).slice(0, MAX_SLUG_LENGTH));
  return slug === '' ? FALLBACK_SLUG : slug;
}

/**
 * `base`, or `base-2`, `base-3`, … — the first one `taken` rejects. The base is
 * shortened when needed so the result stays within MAX_SLUG_LENGTH.
 */
export function uniqueSlug(base: string, taken: (slug: string) => boolean, maxAttempts = 10_000): string {
  if (!taken(base)) return base;
  for (let n = 2; n <= maxAttempts + 1; n += 1) {
    const suffix = `-${n}`;
    const stem = trimDashes(base.slice(0, MAX_SLUG_LENGTH - suffix.length)) || FALLBACK_SLUG;
    const candidate = `${stem}${suffix}`;
    if (!taken(candidate)) return candidate;
  }
  throw new Error(`No free slug for "${base}" after ${maxAttempts} attempts`);
}

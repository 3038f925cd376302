import { z } from 'zod';

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Dot paths (attributes, fieldPath, merge tags) are bounded so no lookup walks an unbounded path. */
export const MAX_PATH_LENGTH = 256;
export const MAX_PATH_SEGMENTS = 16;

/**
 * True for dot paths like `a.b.0.c` whose segments are all non-empty
 * `[A-Za-z0-9_-]+`, at most MAX_PATH_LENGTH characters and MAX_PATH_SEGMENTS segments.
 */
export function isValidPath(path: string): boolean {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) return false;
  const segments = path.split('.');
  return segments.length <= MAX_PATH_SEGMENTS && segments.every((segment) => SEGMENT.test(segment));
}

/** A dot path input: a clear message for each way it can be wrong. `example` shows the shape. */
export function dotPathSchema(example: string) {
  return z.string().superRefine((path, ctx) => {
    if (path.length > MAX_PATH_LENGTH) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_PATH_LENGTH} characters` });
    } else if (path.split('.').length > MAX_PATH_SEGMENTS) {
      ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_PATH_SEGMENTS} segments` });
    } else if (!isValidPath(path)) {
      ctx.addIssue({ code: 'custom', message: `must be a dot path such as ${example}` });
    }
  });
}

/**
 * Dot-path lookup. Numeric segments index arrays; missing links yield undefined
 * rather than throwing because data (event payloads, attributes) is user-shaped.
 */
export function getPath(obj: unknown, path: string): unknown {
  if (path === '') return undefined;
  let current: unknown = obj;
  for (const segment of path.split('.')) {
    if (current === null || current === undefined) return undefined;
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (typeof current === 'object') {
      // Own properties only, so `constructor`/`__proto__` never leak prototype members.
      if (!Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

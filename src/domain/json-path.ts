const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** True for dot paths like `a.b.0.c` whose segments are all non-empty `[A-Za-z0-9_-]+`. */
export function isValidPath(path: string): boolean {
  return path.length > 0 && path.split('.').every((segment) => SEGMENT.test(segment));
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

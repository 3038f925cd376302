// Bounds on caller-shaped JSON (event properties, subscriber attributes, cancel
// field values, segment definitions, any JSON scalar). Measured without
// recursion, so a value nested thousands of levels deep is refused cleanly
// instead of overflowing the stack of whatever walks it next.
import { z } from 'zod';

/** Objects and arrays may nest this deep (a scalar at the top level is depth 0). */
export const MAX_JSON_DEPTH = 32;
/** Values (objects, arrays and leaves) one stored JSON object may hold. */
export const MAX_JSON_NODES = 10_000;
/** Any JSON scalar argument of the API (a cancel may name 10,000 field values). */
export const MAX_JSON_SCALAR_NODES = 100_000;
/** Serialized size of stored JSON objects (attributes, event properties), in bytes. */
export const MAX_JSON_BYTES = 64 * 1024;

/** Why `value` is over the limits, or null. Iterative: safe on any depth. */
export function jsonLimitProblem(value: unknown, maxDepth = MAX_JSON_DEPTH, maxNodes = MAX_JSON_NODES): string | null {
  const stack: [unknown, number][] = [[value, 0]];
  let nodes = 0;
  while (stack.length) {
    const [current, depth] = stack.pop()!;
    if (++nodes > maxNodes) return `must hold at most ${maxNodes} values`;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) return `must not nest deeper than ${maxDepth} levels`;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push([child, depth + 1]);
  }
  return null;
}

/** Checked before any recursive schema (zod's z.json()) walks the value. */
export function boundedJson<S extends z.ZodType>(
  schema: S,
  { maxBytes = MAX_JSON_BYTES, maxNodes = MAX_JSON_NODES }: { maxBytes?: number; maxNodes?: number } = {},
) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = jsonLimitProblem(value, MAX_JSON_DEPTH, maxNodes);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .pipe(schema)
    .superRefine((value, ctx) => {
      // Counted, not encoded: every event's properties pass here.
      if (Buffer.byteLength(JSON.stringify(value) ?? '') > maxBytes) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${maxBytes / 1024} KB as JSON` });
      }
    });
}

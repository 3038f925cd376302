// Compiles a segment definition (src/domain/segment.ts) to one SQL predicate
// over a subscriber row aliased `s`, so membership of many subscribers in many
// segments is one statement instead of one evaluation per subscriber. Every
// value is a bind parameter; every leaf is two-valued (never NULL), so NOT, AND
// and OR mean what they say. matchesSegment is the reference these follow
// (test/graphql/segment-sql.test.ts compares the two on the same data).
import { MAX_NUMERIC_STRING, NUMERIC_STRING, type AttributeCondition, type SegmentCondition, type SegmentDefinition } from '../domain/segment.js';
import { tryDecodeId } from '../domain/public-id.js';

/** Bind parameters of one statement: `add` returns the `$n::type` placeholder. */
export class Params {
  readonly values: unknown[] = [];
  constructor(private readonly offset = 0) {}
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.offset + this.values.length}::${type}`;
  }
}

// The JS regex spelled for Postgres (ARE), without the JS escapes.
const NUMERIC_SQL = `'${NUMERIC_STRING.source.replace(/\\t/g, '\\t').replace(/\\n/g, '\\n').replace(/\\r/g, '\\r')}'`;

/** The attribute's jsonb value, SQL NULL when missing (as getPath gives undefined). */
function attributeValue(path: string, p: Params): string {
  if (path === 'email') return 'to_jsonb(s.email)';
  // `#>` reads keys of objects and indexes of arrays like getPath, except that it
  // counts negative indexes from the end: such segments only read object keys.
  let expr = 's.attributes';
  let run: string[] = [];
  const flush = () => {
    if (run.length) expr = `(${expr} #> ${p.add(run, 'text[]')})`;
    run = [];
  };
  for (const segment of path.split('.')) {
    if (!segment.startsWith('-')) {
      run.push(segment);
      continue;
    }
    flush();
    expr = `(CASE WHEN jsonb_typeof(${expr}) = 'object' THEN ${expr} -> ${p.add(segment, 'text')} END)`;
  }
  flush();
  return expr;
}

function attributeSql(c: AttributeCondition, p: Params): string {
  const v = attributeValue(c.attribute, p);
  const value = () => p.add(JSON.stringify(c.value), 'jsonb');
  const inArray = (param: string) =>
    `(jsonb_typeof(${v}) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(${v}) AS e(x) WHERE e.x = ${param}))`;
  switch (c.op) {
    case 'exists':
      return `(coalesce(jsonb_typeof(${v}), 'null') <> 'null')`;
    case 'not_exists':
      return `(coalesce(jsonb_typeof(${v}), 'null') = 'null')`;
    case 'eq':
      return `coalesce(${v} = ${value()}, false)`;
    case 'neq':
      return `NOT coalesce(${v} = ${value()}, false)`;
    case 'contains': {
      const element = inArray(value());
      if (typeof c.value !== 'string') return `coalesce(${element}, false)`;
      const text = p.add(c.value, 'text');
      return `coalesce((jsonb_typeof(${v}) = 'string' AND strpos(lower(${v} #>> '{}'), lower(${text})) > 0) OR ${element}, false)`;
    }
    default: {
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[c.op];
      if (typeof c.value === 'number') {
        // Numbers, and numeric strings of a bounded shape (always a finite double), as doubles like JS.
        const number = `(CASE jsonb_typeof(${v}) WHEN 'number' THEN (${v})::float8
          WHEN 'string' THEN (CASE WHEN length(${v} #>> '{}') <= ${MAX_NUMERIC_STRING} AND (${v} #>> '{}') ~ ${NUMERIC_SQL}
            THEN btrim(${v} #>> '{}', E' \\t\\n\\r')::float8 END) END)`;
        return `coalesce(${number} ${op} ${p.add(c.value, 'float8')}, false)`;
      }
      return `coalesce(jsonb_typeof(${v}) = 'string' AND (${v} #>> '{}') COLLATE "C" ${op} ${p.add(c.value, 'text')} COLLATE "C", false)`;
    }
  }
}

function conditionSql(c: SegmentCondition, p: Params, at: Date): string {
  if ('conditions' in c) return compileSegment(c, p, at);
  if ('attribute' in c) return attributeSql(c, p);
  if ('tag' in c) {
    const has = `EXISTS (SELECT 1 FROM "SubscriberTag" st JOIN "Tag" t ON t.id = st."tagId" WHERE st."subscriberId" = s.id AND t.name = ${p.add(c.tag, 'text')})`;
    return c.op === 'not_has' ? `NOT ${has}` : has;
  }
  if ('list' in c) {
    // Definitions name lists by public ID; an ID that names no list is in no list.
    const listId = tryDecodeId('List', c.list);
    const member = listId
      ? `EXISTS (SELECT 1 FROM "ListMembership" lm WHERE lm."subscriberId" = s.id AND lm."listId" = ${p.add(listId, 'uuid')})`
      : 'false';
    return c.op === 'not_in' ? `NOT ${member}` : member;
  }
  // Counting stops one past the bound, so a subscriber with a million events costs no more than the number asked about.
  const since = c.withinDays ? new Date(at.getTime() - c.withinDays * 86_400_000) : new Date(0);
  const count = `(SELECT count(*) FROM (SELECT 1 FROM "Event" ev WHERE ev."subscriberId" = s.id AND ev.name = ${p.add(c.event, 'text')}
    AND ev."occurredAt" >= ${p.add(since.toISOString(), 'timestamp')} LIMIT ${p.add(c.value + 1, 'int')}) AS counted)`;
  const op = { count_gte: '>=', count_lte: '<=', count_eq: '=' }[c.op];
  return `(${count} ${op} ${p.add(c.value, 'int')})`;
}

/** One SQL boolean expression over `s` ("Subscriber"); `at` is the clock's now for event windows. */
export function compileSegment(def: SegmentDefinition, p: Params, at: Date): string {
  const parts = def.conditions.map((c) => conditionSql(c, p, at));
  return `(${parts.join(def.match === 'all' ? ' AND ' : ' OR ')})`;
}

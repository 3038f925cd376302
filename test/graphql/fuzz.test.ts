// Fuzzing every mutation's arguments (fast-check), driven by the schema's
// argument types: values of the right shape, wrong types, nulls, odd strings,
// huge numbers, unknown fields. Whatever arrives, the server answers without a
// 5xx or an unexpected (masked) error, and a payload with errors writes nothing.
import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLInputType,
  type GraphQLOutputType,
} from 'graphql';
import { expect, it } from 'vitest';
import { schema } from '../../src/graphql/schema.js';
import { useTestApp } from '../helpers/app.js';

const RUNS_PER_MUTATION = Number(process.env.FUZZ_RUNS ?? 40);
const SEED = Number(process.env.FUZZ_SEED ?? 20240607);

// The rate limit is not what is tested here.
const t = await useTestApp();
const ws = await t.workspace('Fuzz');

// Real IDs of each kind, so some values reach past "not found".
const seeded = await ws.gql(`mutation {
  l: createList(name: "Fuzz list") { id }
  s: upsertSubscriber(input: { email: "fuzz@example.com", tags: ["t"] }) { subscriber { id } }
  q: createSequence(input: { name: "Fuzz", trigger: MANUAL, steps: [{ subject: "Hi", blocks: [{ type: "text", text: "x" }] }] }) { sequence { id steps { id } } }
}`);
const realIds: string[] = [
  seeded.data.l.id,
  seeded.data.s.subscriber.id,
  seeded.data.q.sequence.id,
  seeded.data.q.sequence.steps[0].id,
];

const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '{{', '{{subscriber.', '<script>alert(1)</script>', "'; DROP TABLE x; --", 'a@b', 'x'.repeat(5000), '9'.repeat(40)),
);
const oddNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, -(2 ** 60), 1e308));
const anyJson = fc.jsonValue({ maxDepth: 3 });

function scalarArb(name: string): fc.Arbitrary<unknown> {
  switch (name) {
    case 'String':
      return oddString;
    case 'ID':
      return fc.oneof(fc.constantFrom(...realIds), oddString, fc.constantFrom('seq_', 'sub_00000000000000000000000000000000', 'enr_x'));
    case 'Int':
    case 'Float':
      return oddNumber;
    case 'Boolean':
      return fc.boolean();
    case 'DateTime':
      return fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), oddString);
    default:
      return anyJson;
  }
}

/** Values for a GraphQL input type: mostly of its shape, sometimes anything at all. */
function arb(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  const malformed = fc.oneof(anyJson, fc.constant(null));
  if (isNonNullType(type)) return fc.oneof({ weight: 9, arbitrary: arb(type.ofType, depth) }, { weight: 1, arbitrary: malformed });
  const shaped = (() => {
    if (isListType(type)) return fc.array(arb(type.ofType, depth + 1), { maxLength: depth > 2 ? 1 : 3 });
    if (isEnumType(type)) return fc.oneof(fc.constantFrom(...type.getValues().map((v) => v.name)), oddString);
    if (isScalarType(type)) return scalarArb(type.name);
    if (isInputObjectType(type)) {
      if (depth > 4) return fc.constant({});
      const fields = type.getFields();
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, field] of Object.entries(fields)) record[name] = arb(field.type, depth + 1);
      return fc
        .tuple(fc.record(record, { requiredKeys: [] }), fc.option(fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 2 }), { nil: undefined }))
        .map(([value, extra]) => ({ ...extra, ...value }));
    }
    return anyJson;
  })();
  return fc.oneof({ weight: 8, arbitrary: shaped }, { weight: 1, arbitrary: malformed });
}

function selection(type: GraphQLOutputType): string {
  const named = getNamedType(type);
  if (!isObjectType(named)) return '';
  const fields = named.getFields();
  return fields.errors ? '{ __typename errors { field message code } }' : '{ __typename }';
}

/** Rows per table (the app's tables and the job queue). */
async function rowCounts(): Promise<Record<string, number>> {
  const tables = await t.prisma.$queryRawUnsafe<{ name: string }[]>(
    `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables
      WHERE (schemaname = 'public' AND tablename <> '_prisma_migrations') OR (schemaname = 'pgboss' AND tablename = 'job')`,
  );
  const rows = await t.prisma.$queryRawUnsafe<{ name: string; n: bigint }[]>(
    tables.map((x) => `SELECT '${x.name}' AS name, count(*) AS n FROM ${x.name}`).join(' UNION ALL '),
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]));
}

const mutations = Object.values(schema.getMutationType()!.getFields());

it(`fuzzes every mutation's arguments (${mutations.length} mutations × ${RUNS_PER_MUTATION} runs)`, { timeout: 120_000 }, async () => {
  const problems: string[] = [];
  const outcomes = { accepted: 0, refused: 0 };
  for (const [index, field] of mutations.entries()) {
    const args = field.args;
    const definitions = args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
    const call = args.map((a) => `${a.name}: $${a.name}`).join(', ');
    const query = `mutation${definitions ? `(${definitions})` : ''} { result: ${field.name}${call ? `(${call})` : ''} ${selection(field.type)} }`;
    const variables = fc.record(Object.fromEntries(args.map((a) => [a.name, arb(a.type)])), { requiredKeys: [] });

    await fc.assert(
      fc.asyncProperty(variables, async (vars) => {
        const before = await rowCounts();
        const res = await t.request({ query, variables: vars }, { authorization: `Bearer ${ws.key}` });
        const text = await res.text();
        const where = `${field.name}(${JSON.stringify(vars).slice(0, 300)})`;
        if (res.status >= 500) problems.push(`${where}: HTTP ${res.status} ${text.slice(0, 300)}`);
        let body: any;
        try {
          body = JSON.parse(text);
        } catch {
          problems.push(`${where}: not JSON: ${text.slice(0, 200)}`);
          return;
        }
        for (const error of body.errors ?? []) {
          if (error.message === 'Unexpected error.') problems.push(`${where}: unexpected error (request ${error.extensions?.requestId})`);
        }
        const payloadErrors = body.data?.result?.errors;
        const refused = (body.errors?.length ?? 0) > 0 || (Array.isArray(payloadErrors) && payloadErrors.length > 0);
        outcomes[refused ? 'refused' : 'accepted']++;
        if (refused) {
          const after = await rowCounts();
          const changed = Object.keys({ ...before, ...after }).filter((k) => before[k] !== after[k]);
          if (changed.length) problems.push(`${where}: refused but wrote rows in ${changed.join(', ')}`);
        }
      }),
      { numRuns: RUNS_PER_MUTATION, seed: SEED + index, endOnFailure: true },
    );
  }
  expect(problems).toEqual([]);
  // Both sides were exercised: malformed input refused, and input that got through.
  expect(outcomes.refused).toBeGreaterThan(0);
  expect(outcomes.accepted).toBeGreaterThan(0);
});

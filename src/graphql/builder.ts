import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type PrismaTypes from '../generated/pothos-types.js';
import { getDatamodel } from '../generated/pothos-types.js';
import type { Context } from './context.js';
import { decodeNodeId, encodeId } from '../domain/public-id.js';
import { jsonLimitProblem, MAX_JSON_DEPTH, MAX_JSON_SCALAR_NODES } from '../domain/json-limits.js';
import { GraphQLError } from 'graphql';

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string };
  };
}>({
  defaultFieldNullability: false,
  plugins: [PrismaPlugin, RelayPlugin, DataloaderPlugin],
  prisma: {
    client: (ctx) => ctx.runtime.db,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    defaultConnectionSize: 20,
    maxConnectionSize: 100,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    encodeGlobalID: (typename, id) => encodeId(typename, id),
    decodeGlobalID: (globalID) => decodeNodeId(globalID),
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
// Any JSON argument is bounded at parse time (depth, number of values), so no
// resolver or schema walks a value nested thousands of levels deep.
const boundedJsonScalar = (value: unknown) => {
  const problem = jsonLimitProblem(value, MAX_JSON_DEPTH, MAX_JSON_SCALAR_NODES);
  if (problem) throw new GraphQLError(`JSON value ${problem}`, { extensions: { code: 'BAD_USER_INPUT' } });
  return value;
};
builder.addScalarType('JSON', JSONResolver, {
  description: `Any JSON value, nested at most ${MAX_JSON_DEPTH} levels deep, with at most ${MAX_JSON_SCALAR_NODES} values.`,
  parseValue: (value) => boundedJsonScalar(JSONResolver.parseValue(value)),
  parseLiteral: (ast, variables) => boundedJsonScalar(JSONResolver.parseLiteral(ast, variables)),
});
builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
export type MutationFieldBuilder = PothosSchemaTypes.MutationFieldBuilder<SchemaTypes, {}>;

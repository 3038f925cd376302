import type { ObjectRef } from '@pothos/core';
import type { GraphQLResolveInfo } from 'graphql';
import { builder, type SchemaTypes } from '../builder.js';
import type { Context } from '../context.js';

/** What Pothos' connection helpers resolve a connection to: its page, the parent row and the field's arguments. */
export interface ConnectionResult {
  parent: unknown;
  args: Record<string, unknown>;
  totalCount?: number | (() => number | Promise<number>);
}

/**
 * A named, shared connection type (SequenceConnection, EnrollmentConnection, ...)
 * with the totalCount that prismaConnection/relatedConnection attach to it, or,
 * for a field that leaves it out, the one `count` gives.
 */
export function connectionWithTotalCount<T>(
  type: ObjectRef<SchemaTypes, T>,
  name: string,
  count?: (connection: ConnectionResult, ctx: Context, info: GraphQLResolveInfo) => Promise<number> | undefined,
) {
  return builder.connectionObject({
    type,
    name,
    fields: (t) => ({
      totalCount: t.int({
        resolve: (result, _args, ctx, info) => {
          const connection = result as unknown as ConnectionResult;
          const { totalCount } = connection;
          if (totalCount === undefined) return count?.(connection, ctx, info) ?? 0;
          return typeof totalCount === 'function' ? totalCount() : totalCount;
        },
      }),
    }),
  });
}

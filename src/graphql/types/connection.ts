import type { ObjectRef } from '@pothos/core';
import { builder, type SchemaTypes } from '../builder.js';

/**
 * A named, shared connection type (SequenceConnection, EnrollmentConnection, ...)
 * with the totalCount that prismaConnection/relatedConnection attach to it.
 */
export function connectionWithTotalCount<T>(type: ObjectRef<SchemaTypes, T>, name: string) {
  return builder.connectionObject({
    type,
    name,
    fields: (t) => ({
      totalCount: t.int({
        resolve: (connection) => {
          const { totalCount } = connection as { totalCount?: number | (() => number | Promise<number>) };
          return typeof totalCount === 'function' ? totalCount() : (totalCount ?? 0);
        },
      }),
    }),
  });
}

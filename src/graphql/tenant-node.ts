// The header every workspace-owned node type shares: its public ID resolves
// (Query.node, nodes, relations) only inside the caller's workspace, else null.
import { scopeWhere, type ScopedModel } from '../db/scope.js';
import type { Context } from './context.js';

export function tenantNode<M extends ScopedModel>(model: M) {
  return {
    id: { field: 'id' as const },
    nullable: true as const,
    // Typed per model by Pothos; the scope filter is the same shape for all (see db/scope.ts).
    findUnique: (id: string, ctx: Context) => ({ id, ...scopeWhere(model, ctx.workspaceId) }) as never,
  };
}

import { createList } from '../../services/audience.js';
import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';

export const ListRef = builder.prismaNode('List', {
  ...tenantNode('List'),
  fields: (t) => ({
    name: t.exposeString('name'),
    subscriberCount: t.relationCount('members'),
  }),
});

builder.queryFields((t) => ({
  lists: t.prismaField({
    type: ['List'],
    resolve: (query, _root, _args, ctx) =>
      ctx.runtime.db.list.findMany({ ...query, where: { workspaceId: ctx.workspaceId }, orderBy: { name: 'asc' } }),
  }),
}));

builder.mutationFields((t) => ({
  createList: t.prismaField({
    type: 'List',
    description: 'A duplicate or empty name is a BAD_USER_INPUT error.',
    args: { name: t.arg.string({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const id = await createList(ctx, args.name);
      return ctx.runtime.db.list.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));

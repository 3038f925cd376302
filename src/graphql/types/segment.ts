import { createSegment } from '../../services/audience.js';
import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';

export const SegmentRef = builder.prismaNode('Segment', {
  ...tenantNode('Segment'),
  fields: (t) => ({
    name: t.exposeString('name'),
    definition: t.expose('definition', { type: 'JSON' }),
    subscriberCount: t.relationCount('members'),
  }),
});

builder.queryFields((t) => ({
  segments: t.prismaField({
    type: ['Segment'],
    resolve: (query, _root, _args, ctx) =>
      ctx.runtime.db.segment.findMany({ ...query, where: { workspaceId: ctx.workspaceId }, orderBy: { name: 'asc' } }),
  }),
}));

builder.mutationFields((t) => ({
  createSegment: t.prismaField({
    type: 'Segment',
    description: 'The definition language is documented in the README; a bad definition is a BAD_USER_INPUT error with its path.',
    args: { name: t.arg.string({ required: true }), definition: t.arg({ type: 'JSON', required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const id = await createSegment(ctx, args.name, args.definition);
      return ctx.runtime.db.segment.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));

import { builder } from '../builder.js';

export const EventRef = builder.prismaNode('Event', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, ctx) => ({ id, workspaceId: ctx.workspaceId }),
  fields: (t) => ({
    name: t.exposeString('name'),
    properties: t.expose('properties', { type: 'JSON' }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
    subscriber: t.relation('subscriber'),
  }),
});

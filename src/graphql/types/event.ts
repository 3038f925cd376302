import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';

export const EventRef = builder.prismaNode('Event', {
  ...tenantNode('Event'),
  fields: (t) => ({
    name: t.exposeString('name'),
    properties: t.expose('properties', { type: 'JSON' }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
    subscriber: t.relation('subscriber'),
  }),
});

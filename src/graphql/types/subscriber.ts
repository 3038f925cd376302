import { normalizeEmail } from '../../domain/email-address.js';
import { UserError } from '../../domain/errors.js';
import { decodeId } from '../../domain/public-id.js';
import { addTag, removeTag, setListMembership, unsubscribe, upsertSubscriber } from '../../services/audience.js';
import { MAX_SUBSCRIBERS, upsertSubscribers } from '../../services/subscriber-import.js';
import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';
import { connectionWithTotalCount } from './connection.js';
import { EnrollmentConnection } from './enrollment.js';
import { EnrollmentStatusEnum, SubscriberStatusEnum } from './enums.js';
import { ListRef } from './list.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

export const SubscriberRef = builder.prismaNode('Subscriber', {
  ...tenantNode('Subscriber'),
  fields: (t) => ({
    email: t.exposeString('email'),
    externalId: t.exposeString('externalId', { nullable: true, description: 'Your own id for this person, unique in the workspace' }),
    firstName: t.exposeString('firstName', { nullable: true }),
    lastName: t.exposeString('lastName', { nullable: true }),
    attributes: t.expose('attributes', { type: 'JSON' }),
    tags: t.stringList({
      select: { tags: { select: { tag: { select: { name: true } } }, orderBy: { createdAt: 'asc' } } },
      resolve: (s) => s.tags.map((t) => t.tag.name),
    }),
    lists: t.field({
      type: [ListRef],
      select: (_args, _ctx, nestedSelection) => ({ lists: { select: { list: nestedSelection(true) } } }),
      resolve: (s) => s.lists.map((m) => m.list),
    }),
    status: t.expose('status', { type: SubscriberStatusEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    enrollments: t.relatedConnection(
      'enrollments',
      {
        cursor: 'id',
        totalCount: true,
        args: { status: t.arg({ type: [EnrollmentStatusEnum] }) },
        query: (args) => ({ where: args.status ? { status: { in: args.status } } : {}, orderBy: { id: 'desc' } }),
      },
      EnrollmentConnection,
    ),
  }),
});

const SubscriberConnection = connectionWithTotalCount(SubscriberRef, 'SubscriberConnection');

function subscriberFilter(search: string | null | undefined, workspaceId: string) {
  if (!search) return { workspaceId };
  const contains = { contains: search, mode: 'insensitive' as const };
  return { workspaceId, OR: [{ email: contains }, { firstName: contains }, { lastName: contains }] };
}

builder.queryFields((t) => ({
  subscriber: t.prismaField({
    type: 'Subscriber',
    nullable: true,
    args: { id: t.arg.id(), email: t.arg.string(), externalId: t.arg.string() },
    resolve: (query, _root, args, ctx) => {
      if ([args.id, args.email, args.externalId].filter((a) => a != null).length !== 1) {
        throw new UserError('Give exactly one of id, email or externalId', ['id'], 'BAD_USER_INPUT');
      }
      const where = args.id
        ? { id: decodeId('Subscriber', args.id, ['id']) }
        : args.email != null
          ? { email: normalizeEmail(args.email) }
          : { externalId: args.externalId!.trim() };
      return ctx.runtime.db.subscriber.findFirst({ ...query, where: { ...where, workspaceId: ctx.workspaceId } });
    },
  }),
  subscribers: t.prismaConnection(
    {
      type: 'Subscriber',
      cursor: 'id',
      args: { search: t.arg.string({ description: 'Case-insensitive match on email or name' }) },
      totalCount: (_parent, args, ctx) => ctx.runtime.db.subscriber.count({ where: subscriberFilter(args.search, ctx.workspaceId) }),
      resolve: (query, _root, args, ctx) =>
        ctx.runtime.db.subscriber.findMany({ ...query, where: subscriberFilter(args.search, ctx.workspaceId), orderBy: { id: 'desc' } }),
    },
    SubscriberConnection,
  ),
}));

export const SubscriberInput = builder.inputType('SubscriberInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    externalId: t.string({ description: 'Your own id for this person: when given, the upsert matches on it first (else on email)' }),
    firstName: t.string(),
    lastName: t.string(),
    attributes: t.field({ type: 'JSON', description: 'Merged key by key into the stored attributes' }),
    tags: t.stringList({ description: 'Added; tags not listed are kept' }),
    listIds: t.idList({ description: 'Lists to add the subscriber to' }),
  }),
});

export const SubscriberPayload = builder
  .objectRef<{ subscriberId?: string; errors: UserErrorShape[] }>('SubscriberPayload')
  .implement({
    fields: (t) => ({
      subscriber: t.prismaField({
        type: 'Subscriber',
        nullable: true,
        resolve: (query, p, _args, ctx) =>
          p.subscriberId ? ctx.runtime.db.subscriber.findUnique({ ...query, where: { id: p.subscriberId } }) : null,
      }),
      errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
    }),
  });

const UpsertSubscribersInput = builder.inputType('UpsertSubscribersInput', {
  fields: (t) => ({
    subscribers: t.field({ type: [SubscriberInput], required: true, description: `1 to ${MAX_SUBSCRIBERS} subscribers, upserted in one transaction` }),
  }),
});

const UpsertSubscribersPayload = builder
  .objectRef<{ subscriberIds?: (string | null)[]; errors: UserErrorShape[] }>('UpsertSubscribersPayload')
  .implement({
    fields: (t) => ({
      subscribers: t.prismaField({
        type: ['Subscriber'],
        nullable: { list: false, items: true },
        description: 'One per input item, in order; null where that item had errors',
        // findUnique calls of one tick are batched by Prisma into one query.
        resolve: (query, p, _args, ctx) =>
          Promise.all((p.subscriberIds ?? []).map((id) => (id ? ctx.runtime.db.subscriber.findUnique({ ...query, where: { id } }) : null))),
      }),
      errors: t.field({
        type: [UserErrorRef],
        description: 'Mistakes of every item, each naming its index (["input","subscribers","3","email"]); those items were not written',
        resolve: (p) => p.errors,
      }),
    }),
  });

builder.mutationFields((t) => ({
  upsertSubscribers: t.field({
    type: UpsertSubscribersPayload,
    args: { input: t.arg({ type: UpsertSubscribersInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      const { outcomes, errors } = await payload(async () => ({ outcomes: await upsertSubscribers(ctx, args.input.subscribers) }));
      if (!outcomes) return { errors };
      return {
        subscriberIds: outcomes.map((o) => (o.ok ? o.subscriberId : null)),
        errors: outcomes.flatMap((o) => (o.ok ? [] : o.errors.map(({ field, message, code }) => ({ field, message, code })))),
      };
    },
  }),
  upsertSubscriber: t.field({
    type: SubscriberPayload,
    args: { input: t.arg({ type: SubscriberInput, required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ subscriberId: await upsertSubscriber(ctx, args.input) })),
  }),
  addTag: t.field({
    type: SubscriberPayload,
    args: { subscriberId: t.arg.id({ required: true }), tag: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ subscriberId: await addTag(ctx, args.subscriberId, args.tag) })),
  }),
  removeTag: t.field({
    type: SubscriberPayload,
    args: { subscriberId: t.arg.id({ required: true }), tag: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ subscriberId: await removeTag(ctx, args.subscriberId, args.tag) })),
  }),
  addToList: t.field({
    type: SubscriberPayload,
    args: { subscriberId: t.arg.id({ required: true }), listId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => ({ subscriberId: await setListMembership(ctx, args.subscriberId, args.listId, true) })),
  }),
  removeFromList: t.field({
    type: SubscriberPayload,
    args: { subscriberId: t.arg.id({ required: true }), listId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => ({ subscriberId: await setListMembership(ctx, args.subscriberId, args.listId, false) })),
  }),
  unsubscribe: t.field({
    type: SubscriberPayload,
    args: { subscriberId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ subscriberId: await unsubscribe(ctx, args.subscriberId) })),
  }),
}));

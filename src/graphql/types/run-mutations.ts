// Mutations that start, steer and end runs.
import { queryFromInfo } from '@pothos/plugin-prisma';
import { Kind, type GraphQLResolveInfo } from 'graphql';
import type { EnrollmentSkip } from '../../engine/triggers.js';
import { MAX_EVENTS, trackEvents } from '../../services/events.js';
import type { Enrollment } from '../../generated/prisma/client.js';
import {
  enroll,
  pauseEnrollment,
  recordReply,
  removeSubscriberFromSequence,
  resumeEnrollment,
  trackEvent,
} from '../../services/runs.js';
import { builder } from '../builder.js';
import { EnrollmentRef } from './enrollment.js';
import { ReplySentimentEnum } from './enums.js';
import { SubscriberInput } from './subscriber.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const TrackEventInput = builder.inputType('TrackEventInput', {
  fields: (t) => ({
    subscriberId: t.id(),
    email: t.string({ description: 'Creates the subscriber when new' }),
    externalId: t.string({ description: 'Your own id for the subscriber; with an email, creates it when new' }),
    event: t.string({ required: true }),
    properties: t.field({ type: 'JSON' }),
    idempotencyKey: t.string({ description: 'The same key records one event and starts runs once' }),
    occurredAt: t.field({ type: 'DateTime' }),
  }),
});

const EnrollmentSkipRef = builder.objectRef<EnrollmentSkip>('EnrollmentSkip').implement({
  description: 'A sequence whose trigger matched but which started no run (or only queued one), and why.',
  fields: (t) => ({
    sequence: t.prismaField({
      type: 'Sequence',
      // findUnique calls of one tick are batched by Prisma into one query.
      resolve: (query, s, _args, ctx) => ctx.runtime.db.sequence.findUniqueOrThrow({ ...query, where: { id: s.sequenceId } }),
    }),
    code: t.exposeString('code', { description: 'ONE_TIME, ALREADY_ACTIVE, NO_ENROLLMENT_KEY, MAX_ACTIVATIONS, DUPLICATE, or THROTTLE_* when queued' }),
    reason: t.exposeString('reason'),
  }),
});

/** Whether the field's selection is only `id` (and `__typename`), without fragments. */
function onlyIdSelected(info: GraphQLResolveInfo): boolean {
  return info.fieldNodes.every((node) =>
    (node.selectionSet?.selections ?? []).every((s) => s.kind === Kind.FIELD && (s.name.value === 'id' || s.name.value === '__typename') && !s.directives?.length),
  );
}

type TrackEventShape = { eventId?: string; enrollmentIds?: string[]; skipped?: EnrollmentSkip[]; errors: UserErrorShape[] };

const TrackEventPayload = builder
  .objectRef<TrackEventShape>('TrackEventPayload')
  .implement({
    fields: (t) => ({
      event: t.prismaField({
        type: 'Event',
        nullable: true,
        resolve: (query, p, _args, ctx) => (p.eventId ? ctx.runtime.db.event.findUnique({ ...query, where: { id: p.eventId } }) : null),
      }),
      enrollments: t.field({
        type: [EnrollmentRef],
        description: 'The runs this event started',
        // None read when only ids are asked for (the common answer of a hot path): those are known,
        // and answered synchronously, without mapping the selection to a Prisma query for each of a batch's events.
        // Else one findUnique per run: Prisma batches those of one tick, so a trackEvents answer costs one query, not one per event.
        resolve: (p, _args, ctx, info): Enrollment[] | Promise<Enrollment[]> => {
          const ids = p.enrollmentIds ?? [];
          if (onlyIdSelected(info)) return ids.map((id) => ({ id }) as Enrollment);
          const load = async (query: object): Promise<Enrollment[]> =>
            (await Promise.all(ids.map((id) => ctx.runtime.db.enrollment.findUnique({ ...query, where: { id } })))).filter((e) => e !== null);
          return Promise.resolve(queryFromInfo({ context: ctx, info, awaitSelections: true }) as object | Promise<object>).then(load);
        },
      }),
      skipped: t.field({
        type: [EnrollmentSkipRef],
        description: 'Sequences whose trigger matched but which started no run (or only queued one)',
        resolve: (p) => p.skipped ?? [],
      }),
      errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
    }),
  });

const TrackEventsInput = builder.inputType('TrackEventsInput', {
  fields: (t) => ({
    events: t.field({ type: [TrackEventInput], required: true, description: `1 to ${MAX_EVENTS} events, recorded in one transaction` }),
  }),
});

const TrackEventsPayload = builder
  .objectRef<{ results?: TrackEventShape[]; errors: UserErrorShape[] }>('TrackEventsPayload')
  .implement({
    fields: (t) => ({
      results: t.field({ type: [TrackEventPayload], description: 'One per event, in input order', resolve: (p) => p.results ?? [] }),
      errors: t.field({
        type: [UserErrorRef],
        description: 'Mistakes of every event, each naming its index (["input","events","7","email"]); those events were not recorded',
        resolve: (p) => p.errors,
      }),
    }),
  });

const EnrollSubscriberInput = builder.inputType('EnrollSubscriberInput', {
  fields: (t) => ({
    sequenceId: t.id({ required: true }),
    subscriber: t.field({ type: SubscriberInput, required: true }),
    properties: t.field({ type: 'JSON', description: 'Kept as the run’s entry event ({{event.x}})' }),
    idempotencyKey: t.string(),
  }),
});

const RemoveSubscriberInput = builder.inputType('RemoveSubscriberInput', {
  fields: (t) => ({ sequenceId: t.id({ required: true }), email: t.string({ required: true }) }),
});

const RecordReplyInput = builder.inputType('RecordReplyInput', {
  fields: (t) => ({
    messageId: t.id({ required: true }),
    sentiment: t.field({ type: ReplySentimentEnum }),
    fromPrimary: t.boolean({ description: 'Default true: primaryReplyAction applies; false: secondaryReplyAction' }),
  }),
});

export const EnrollmentPayload = builder
  .objectRef<{ enrollmentId?: string | null; enrollment?: Enrollment; enrollmentIds?: string[]; skipped?: EnrollmentSkip[]; errors: UserErrorShape[] }>('EnrollmentPayload')
  .implement({
    fields: (t) => ({
      enrollment: t.prismaField({
        type: 'Enrollment',
        nullable: true,
        // As the mutation committed it when it returned the row, not as a racing call left it.
        resolve: async (query, p, _args, ctx) => {
          if (!p.enrollmentId) return null;
          const row = await ctx.runtime.db.enrollment.findUnique({ ...query, where: { id: p.enrollmentId } });
          return row && p.enrollment ? { ...row, ...p.enrollment } : row;
        },
      }),
      enrollments: t.prismaField({
        type: ['Enrollment'],
        description:
          'removeSubscriberFromSequence: every run it ended, newest first (CANCELLED, with completedAt). Other mutations: the one run above.',
        resolve: async (query, p, _args, ctx) => {
          const ids = p.enrollmentIds ?? (p.enrollmentId ? [p.enrollmentId] : []);
          if (!ids.length) return [];
          const rows = await ctx.runtime.db.enrollment.findMany({ ...query, where: { id: { in: ids } } });
          return ids.flatMap((id) => rows.filter((r) => r.id === id));
        },
      }),
      skipped: t.field({
        type: [EnrollmentSkipRef],
        description: 'Sequences whose trigger matched but which started no run (or only queued one)',
        resolve: (p) => p.skipped ?? [],
      }),
      errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
    }),
  });

const shape = (e: { field: string[]; message: string; code: string }): UserErrorShape => ({ field: e.field, message: e.message, code: e.code });

builder.mutationFields((t) => ({
  trackEvent: t.field({
    type: TrackEventPayload,
    args: { input: t.arg({ type: TrackEventInput, required: true }) },
    resolve: (_root, args, ctx) => payload(() => trackEvent(ctx, args.input)),
  }),
  trackEvents: t.field({
    type: TrackEventsPayload,
    args: { input: t.arg({ type: TrackEventsInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      const { outcomes, errors } = await payload(async () => ({ outcomes: await trackEvents(ctx, args.input.events) }));
      if (!outcomes) return { errors };
      return {
        // Fields spelled out, not spread: an object spread costs about a microsecond, per event of a batch.
        results: outcomes.map((o): TrackEventShape =>
          o.ok ? { eventId: o.eventId, enrollmentIds: o.enrollmentIds, skipped: o.skipped, errors: [] } : { errors: o.errors.map(shape) },
        ),
        errors: outcomes.flatMap((o) => (o.ok ? [] : o.errors.map(shape))),
      };
    },
  }),
  enrollSubscriber: t.field({
    type: EnrollmentPayload,
    args: { input: t.arg({ type: EnrollSubscriberInput, required: true }) },
    resolve: (_root, args, ctx) => payload(() => enroll(ctx, args.input)),
  }),
  removeSubscriberFromSequence: t.field({
    type: EnrollmentPayload,
    args: { input: t.arg({ type: RemoveSubscriberInput, required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => {
        const enrollmentIds = await removeSubscriberFromSequence(ctx, args.input);
        return { enrollmentId: enrollmentIds[0], enrollmentIds };
      }),
  }),
  pauseEnrollment: t.field({
    type: EnrollmentPayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => {
        const enrollment = await pauseEnrollment(ctx, args.id);
        return { enrollmentId: enrollment.id, enrollment };
      }),
  }),
  resumeEnrollment: t.field({
    type: EnrollmentPayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => {
        const enrollment = await resumeEnrollment(ctx, args.id);
        return { enrollmentId: enrollment.id, enrollment };
      }),
  }),
  recordReply: t.field({
    type: EnrollmentPayload,
    args: { input: t.arg({ type: RecordReplyInput, required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ enrollmentId: await recordReply(ctx, args.input) })),
  }),
}));

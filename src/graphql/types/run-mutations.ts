// Mutations that start, steer and end runs.
import { db } from '../../db/client.js';
import {
  enrollSubscriber,
  pauseEnrollment,
  recordReply,
  removeSubscriberFromSequence,
  resumeEnrollment,
  trackEvent,
} from '../../services/runs.js';
import { builder } from '../builder.js';
import { ReplySentimentEnum } from './enums.js';
import { SubscriberInput } from './subscriber.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const TrackEventInput = builder.inputType('TrackEventInput', {
  fields: (t) => ({
    subscriberId: t.id(),
    email: t.string({ description: 'Creates the subscriber when new' }),
    event: t.string({ required: true }),
    properties: t.field({ type: 'JSON' }),
    idempotencyKey: t.string({ description: 'The same key records one event and starts runs once' }),
    occurredAt: t.field({ type: 'DateTime' }),
  }),
});

const TrackEventPayload = builder
  .objectRef<{ eventId?: string; enrollmentIds?: string[]; errors: UserErrorShape[] }>('TrackEventPayload')
  .implement({
    fields: (t) => ({
      event: t.prismaField({
        type: 'Event',
        nullable: true,
        resolve: (query, p) => (p.eventId ? db().event.findUnique({ ...query, where: { id: p.eventId } }) : null),
      }),
      enrollments: t.prismaField({
        type: ['Enrollment'],
        description: 'The runs this event started',
        resolve: (query, p) =>
          p.enrollmentIds?.length ? db().enrollment.findMany({ ...query, where: { id: { in: p.enrollmentIds } }, orderBy: { id: 'asc' } }) : [],
      }),
      errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
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
  .objectRef<{ enrollmentId?: string | null; enrollmentIds?: string[]; errors: UserErrorShape[] }>('EnrollmentPayload')
  .implement({
    fields: (t) => ({
      enrollment: t.prismaField({
        type: 'Enrollment',
        nullable: true,
        resolve: (query, p) => (p.enrollmentId ? db().enrollment.findUnique({ ...query, where: { id: p.enrollmentId } }) : null),
      }),
      enrollments: t.prismaField({
        type: ['Enrollment'],
        description:
          'removeSubscriberFromSequence: every run it ended, newest first (CANCELLED, with completedAt). Other mutations: the one run above.',
        resolve: async (query, p) => {
          const ids = p.enrollmentIds ?? (p.enrollmentId ? [p.enrollmentId] : []);
          if (!ids.length) return [];
          const rows = await db().enrollment.findMany({ ...query, where: { id: { in: ids } } });
          return ids.flatMap((id) => rows.filter((r) => r.id === id));
        },
      }),
      errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
    }),
  });

builder.mutationFields((t) => ({
  trackEvent: t.field({
    type: TrackEventPayload,
    args: { input: t.arg({ type: TrackEventInput, required: true }) },
    resolve: (_root, args, ctx) => payload(() => trackEvent(ctx, args.input)),
  }),
  enrollSubscriber: t.field({
    type: EnrollmentPayload,
    args: { input: t.arg({ type: EnrollSubscriberInput, required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ enrollmentId: await enrollSubscriber(ctx, args.input) })),
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
    resolve: (_root, args, ctx) => payload(async () => ({ enrollmentId: await pauseEnrollment(ctx, args.id) })),
  }),
  resumeEnrollment: t.field({
    type: EnrollmentPayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ enrollmentId: await resumeEnrollment(ctx, args.id) })),
  }),
  recordReply: t.field({
    type: EnrollmentPayload,
    args: { input: t.arg({ type: RecordReplyInput, required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ enrollmentId: await recordReply(ctx, args.input) })),
  }),
}));

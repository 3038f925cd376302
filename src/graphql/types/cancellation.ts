import { encodeId } from '../../domain/public-id.js';
import { cancelEnrollments, cancelRuns, type CancelEnrollmentsResult, type CancelledRun } from '../../services/cancel.js';
import { builder } from '../builder.js';
import { EnrollmentStatusEnum } from './enums.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const CancelEnrollmentsInput = builder.inputType('CancelEnrollmentsInput', {
  description:
    'Target either one subscriber or all runs whose entry event matches fieldValues at fieldPath (default: the sequence’s enrollmentFieldPath). Field-value targeting is a dry run unless dryRun is false.',
  fields: (t) => ({
    sequenceId: t.id({ required: true }),
    subscriberId: t.id(),
    fieldPath: t.string(),
    fieldValues: t.field({ type: ['JSON'], description: 'Compared as JSON: 123 and "123" differ' }),
    dryRun: t.boolean(),
    reason: t.string(),
    limit: t.int({ description: 'Runs listed in the answer: default 100, at most 1000' }),
  }),
});

const CancelledEnrollmentRef = builder.objectRef<CancelledRun>('CancelledEnrollment').implement({
  fields: (t) => ({
    enrollmentId: t.id({ resolve: (r) => encodeId('Enrollment', r.enrollmentId) }),
    subscriberId: t.id({ resolve: (r) => encodeId('Subscriber', r.subscriberId) }),
    subscriberEmail: t.exposeString('subscriberEmail'),
    status: t.field({ type: EnrollmentStatusEnum, resolve: (r) => r.status }),
    enrollmentKey: t.exposeString('enrollmentKey', { nullable: true }),
  }),
});

type CancelPayloadShape = Partial<CancelEnrollmentsResult> & { errors: UserErrorShape[]; requestedSequenceId: string };

const CancelEnrollmentsPayload = builder.objectRef<CancelPayloadShape>('CancelEnrollmentsPayload').implement({
  fields: (t) => ({
    sequenceId: t.id({ resolve: (p) => (p.sequenceId ? encodeId('Sequence', p.sequenceId) : p.requestedSequenceId) }),
    dryRun: t.boolean({ resolve: (p) => p.dryRun ?? true }),
    matchedCount: t.int({ resolve: (p) => p.matchedCount ?? 0 }),
    cancelledCount: t.int({ resolve: (p) => p.cancelledCount ?? 0 }),
    enrollments: t.field({ type: [CancelledEnrollmentRef], resolve: (p) => p.enrollments ?? [] }),
    hasMore: t.boolean({ resolve: (p) => p.hasMore ?? false }),
    message: t.string({ resolve: (p) => p.message ?? p.errors.map((e) => e.message).join('; ') }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

const CancelRunsInput = builder.inputType('CancelRunsInput', {
  description:
    'Filters are ANDed; at least one of executionId, recipients, idempotencyKey or sequenceSlug is required. recipients are subscriber ids, emails or externalIds.',
  fields: (t) => ({
    executionId: t.id(),
    recipients: t.stringList(),
    idempotencyKey: t.string(),
    sequenceSlug: t.string(),
    reason: t.string(),
  }),
});

const CancelRunsPayload = builder
  .objectRef<{ executionIds?: string[]; errors: UserErrorShape[] }>('CancelRunsPayload')
  .implement({
    fields: (t) => ({
      executionIds: t.idList({ resolve: (p) => (p.executionIds ?? []).map((id) => encodeId('Enrollment', id)) }),
      errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
    }),
  });

builder.mutationFields((t) => ({
  cancelEnrollments: t.field({
    type: CancelEnrollmentsPayload,
    args: { input: t.arg({ type: CancelEnrollmentsInput, required: true }) },
    resolve: async (_root, args, ctx) => ({
      ...(await payload(() => cancelEnrollments(ctx, args.input))),
      requestedSequenceId: String(args.input.sequenceId),
    }),
  }),
  cancelRuns: t.field({
    type: CancelRunsPayload,
    args: { input: t.arg({ type: CancelRunsInput, required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ executionIds: await cancelRuns(ctx, args.input) })),
  }),
}));

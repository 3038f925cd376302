import { decodeId } from '../../domain/public-id.js';
import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';
import { connectionWithTotalCount } from './connection.js';
import { EnrollmentStatusEnum, StepRunStatusEnum } from './enums.js';

export const StepRunRef = builder.prismaObject('StepRun', {
  fields: (t) => ({
    step: t.relation('step'),
    status: t.expose('status', { type: StepRunStatusEnum }),
    scheduledAt: t.expose('scheduledAt', { type: 'DateTime' }),
    executedAt: t.expose('executedAt', { type: 'DateTime', nullable: true }),
    message: t.relation('message', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

/** One run of one subscriber through one sequence; its id is also the execution id. */
export const EnrollmentRef = builder.prismaNode('Enrollment', {
  ...tenantNode('Enrollment'),
  fields: (t) => ({
    sequence: t.relation('sequence'),
    subscriber: t.relation('subscriber'),
    status: t.expose('status', { type: EnrollmentStatusEnum }),
    enrollmentKey: t.exposeString('enrollmentKey', { nullable: true }),
    idempotencyKey: t.exposeString('idempotencyKey', { nullable: true }),
    entryEvent: t.expose('entryEvent', { type: 'JSON', nullable: true, description: 'Snapshot of the event that started the run' }),
    currentStepPosition: t.exposeInt('currentStepPosition', { nullable: true }),
    nextTriggerAt: t.expose('nextTriggerAt', { type: 'DateTime', nullable: true }),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
    cancelledAt: t.expose('cancelledAt', { type: 'DateTime', nullable: true }),
    cancelReason: t.exposeString('cancelReason', { nullable: true }),
    discountCode: t.string({
      nullable: true,
      description: "The code of the run's latest created discount",
      select: { discounts: { select: { code: true }, orderBy: { createdAt: 'desc' }, take: 1 } },
      resolve: (e) => e.discounts[0]?.code ?? null,
    }),
    history: t.relation('stepRuns', { query: { orderBy: [{ scheduledAt: 'asc' }, { id: 'asc' }] } }),
  }),
});

export const EnrollmentConnection = connectionWithTotalCount(EnrollmentRef, 'EnrollmentConnection');

builder.queryFields((t) => ({
  enrollment: t.prismaField({
    type: 'Enrollment',
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.runtime.db.enrollment.findFirst({
        ...query,
        where: { id: decodeId('Enrollment', args.id, ['id']), workspaceId: ctx.workspaceId },
      }),
  }),
}));

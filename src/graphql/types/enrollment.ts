import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { decodeId } from '../../domain/public-id.js';
import { loadRunCounts } from '../../services/stats.js';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
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
  // Only the columns a query asks for (each exposed field adds its own), not all of them:
  // a page of runs is built as JSON in Postgres row by row, entryEvent and all, and
  // before statistics exist Postgres builds it for every run of the sequence, then sorts.
  select: { id: true },
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

/** Per request, batched: how many runs of a sequence are in some statuses (all for null), from the run counters. */
export const runCount = createContextCache(
  (ctx: Context) =>
    new DataLoader<{ sequenceId: string; statuses: readonly string[] | null }, number, string>(
      (keys) => loadRunCounts(ctx.runtime.db, keys),
      { cacheKeyFn: (k) => JSON.stringify([k.sequenceId, k.statuses]) },
    ),
);

// Sequence.enrollments leaves its totalCount out of the page's query (a count(*) over
// every run of the sequence, growing with each) and takes it from the run counters.
export const EnrollmentConnection = connectionWithTotalCount(EnrollmentRef, 'EnrollmentConnection', (connection, ctx, info) =>
  info.path.prev?.typename === 'Sequence'
    ? runCount(ctx).load({
        sequenceId: (connection.parent as { id: string }).id,
        statuses: (connection.args.status as string[] | null | undefined) ?? null,
      })
    : undefined,
);

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

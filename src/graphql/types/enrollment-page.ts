// Sequence.enrollmentsPage: page-numbered listing of a sequence's runs, in the
// shape Broadcast (pagy) callers read: page, pages, count, prev, next.
import { UserError } from '../../domain/errors.js';
import type { EnrollmentStatus } from '../../generated/prisma/client.js';
import { builder } from '../builder.js';
import { runCount } from './enrollment.js';
import { EnrollmentStatusEnum } from './enums.js';

export const MAX_PER_PAGE = 100;

interface PageShape {
  sequenceId: string;
  status: EnrollmentStatus[] | null;
  page: number;
  perPage: number;
  count: number;
}

const pagesOf = (p: PageShape) => Math.max(1, Math.ceil(p.count / p.perPage));

const EnrollmentPageRef = builder.objectRef<PageShape>('EnrollmentPage').implement({
  description: 'One page of runs, newest first. A page past the last is empty, with prev pointing at the last page.',
  fields: (t) => ({
    nodes: t.prismaField({
      type: ['Enrollment'],
      resolve: (query, p, _args, ctx) =>
        p.page > pagesOf(p)
          ? []
          : ctx.runtime.db.enrollment.findMany({
              ...query,
              where: { sequenceId: p.sequenceId, ...(p.status ? { status: { in: p.status } } : {}) },
              orderBy: { id: 'desc' },
              skip: (p.page - 1) * p.perPage,
              take: p.perPage,
            }),
    }),
    page: t.exposeInt('page'),
    pages: t.int({ description: 'At least 1', resolve: pagesOf }),
    count: t.exposeInt('count', { description: 'Runs matching the filter, on every page' }),
    prev: t.int({ nullable: true, resolve: (p) => (p.page > 1 ? Math.min(p.page - 1, pagesOf(p)) : null) }),
    next: t.int({ nullable: true, resolve: (p) => (p.page < pagesOf(p) ? p.page + 1 : null) }),
  }),
});

builder.prismaObjectField('Sequence', 'enrollmentsPage', (t) =>
  t.field({
    type: EnrollmentPageRef,
    description: `Runs by page number (perPage at most ${MAX_PER_PAGE}), optionally only those in the given statuses.`,
    args: {
      page: t.arg.int({ defaultValue: 1, required: true }),
      perPage: t.arg.int({ defaultValue: 25, required: true }),
      status: t.arg({ type: [EnrollmentStatusEnum] }),
    },
    resolve: async (sequence, args, ctx) => {
      if (args.page < 1) throw new UserError('page must be at least 1', ['page'], 'VALIDATION');
      if (args.perPage < 1 || args.perPage > MAX_PER_PAGE) {
        throw new UserError(`perPage must be between 1 and ${MAX_PER_PAGE}`, ['perPage'], 'VALIDATION');
      }
      const status = (args.status as EnrollmentStatus[] | null | undefined) ?? null;
      const count = await runCount(ctx).load({ sequenceId: sequence.id, statuses: status });
      return { sequenceId: sequence.id, status, page: args.page, perPage: args.perPage, count };
    },
  }),
);

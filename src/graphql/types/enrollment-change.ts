import { decodeId } from '../../domain/public-id.js';
import { changeFeed, decodeCursor, encodeCursor, type FeedRow } from '../../realtime/change-feed.js';
import { loadChange, loadChangeRun } from '../../realtime/change-loader.js';
import { builder } from '../builder.js';
import { EnrollmentStatusEnum } from './enums.js';

const EnrollmentChangeRef = builder.prismaObject('EnrollmentChange', {
  fields: (t) => ({
    cursor: t.string({ description: 'Resume point: pass it back as after', resolve: (c) => encodeCursor(c) }),
    // Not a Prisma relation (the log has no foreign key): loaded once per selection for the changes read together.
    enrollment: t.prismaField({ type: 'Enrollment', resolve: (query, change, _args, ctx) => loadChangeRun(ctx.runtime.db, query, change) }),
    previousStatus: t.expose('previousStatus', { type: EnrollmentStatusEnum, nullable: true }),
    status: t.expose('status', { type: EnrollmentStatusEnum }),
    reason: t.exposeString('reason', { nullable: true }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
  }),
});

builder.subscriptionFields((t) => ({
  enrollmentChanged: t.prismaField({
    type: EnrollmentChangeRef,
    description:
      'Every status change of runs matching the filters, in commit order. With after, changes since that cursor are replayed first, then live ones follow, none lost and none twice.',
    args: {
      sequenceId: t.arg.id(),
      subscriberId: t.arg.id(),
      statuses: t.arg({ type: [EnrollmentStatusEnum] }),
      after: t.arg.string(),
    },
    subscribe: (_root, args, ctx) =>
      changeFeed(
        ctx.runtime.db,
        {
          workspaceId: ctx.workspaceId,
          sequenceId: args.sequenceId ? decodeId('Sequence', args.sequenceId, ['sequenceId']) : null,
          subscriberId: args.subscriberId ? decodeId('Subscriber', args.subscriberId, ['subscriberId']) : null,
          statuses: args.statuses,
        },
        args.after ? decodeCursor(args.after, ['after']) : null,
      ),
    // The selection's fields are loaded once per change for all subscriptions with that selection.
    resolve: (query, change, _args, ctx) => loadChange(ctx.runtime.db, query, change as unknown as FeedRow),
  }),
}));

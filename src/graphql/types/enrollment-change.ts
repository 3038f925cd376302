import { decodeId } from '../../domain/public-id.js';
import { changeFeed, decodeCursor, encodeCursor } from '../../realtime/change-feed.js';
import { builder } from '../builder.js';
import { EnrollmentStatusEnum } from './enums.js';

const EnrollmentChangeRef = builder.prismaObject('EnrollmentChange', {
  fields: (t) => ({
    cursor: t.string({ description: 'Resume point: pass it back as after', resolve: (c) => encodeCursor(c.seq) }),
    enrollment: t.relation('enrollment'),
    previousStatus: t.expose('previousStatus', { type: EnrollmentStatusEnum, nullable: true }),
    status: t.expose('status', { type: EnrollmentStatusEnum }),
    reason: t.exposeString('reason', { nullable: true }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
  }),
});

builder.subscriptionFields((t) => ({
  enrollmentChanged: t.field({
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
        {
          workspaceId: ctx.workspaceId,
          sequenceId: args.sequenceId ? decodeId('Sequence', args.sequenceId, ['sequenceId']) : null,
          subscriberId: args.subscriberId ? decodeId('Subscriber', args.subscriberId, ['subscriberId']) : null,
          statuses: args.statuses,
        },
        args.after ? decodeCursor(args.after, ['after']) : null,
      ),
    resolve: (change) => change,
  }),
}));

// Live sequence figures: sequenceStatsChanged pushes SequenceStats when they change.
import { notFound } from '../../domain/errors.js';
import { decodeId } from '../../domain/public-id.js';
import { statsFeed } from '../../realtime/stats-feed.js';
import type { SequenceStats } from '../../services/stats.js';
import { builder } from '../builder.js';
import { SequenceStatsRef } from './sequence.js';

builder.subscriptionFields((t) => ({
  sequenceStatsChanged: t.field({
    type: SequenceStatsRef,
    description:
      "The sequence's stats now, then again whenever they change (sends, opens, clicks, replies, bounces, opt-outs, run changes), at most four times a second.",
    args: { sequenceId: t.arg.id({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const id = decodeId('Sequence', args.sequenceId, ['sequenceId']);
      const sequence = await ctx.runtime.db.sequence.findFirst({ where: { id, workspaceId: ctx.workspaceId }, select: { id: true } });
      if (!sequence) throw notFound('Sequence', ['sequenceId']);
      return statsFeed(ctx.runtime.db, ctx.workspaceId, sequence.id);
    },
    resolve: (stats: SequenceStats) => stats,
  }),
}));

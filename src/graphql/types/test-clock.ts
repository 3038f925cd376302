import { advanceTestClock } from '../../services/test-clock.js';
import { testKeyRequired } from '../../services/test-mode.js';
import type { TestClockState } from '../../engine/test-clock.js';
import { testClockFeed } from '../../realtime/test-clock-feed.js';
import { builder } from '../builder.js';
import { TestClockRef } from './test-mode.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

// The advance's extra on test mode's TestClock: where it is going.
builder.objectField(TestClockRef, 'advancingTo', (t) =>
  t.field({ type: 'DateTime', nullable: true, description: 'While ADVANCING: the time it is moving to', resolve: (c) => c.advancingTo }),
);

const TestClockPayload = builder.objectRef<{ testClock?: TestClockState; errors: UserErrorShape[] }>('TestClockPayload').implement({
  fields: (t) => ({
    testClock: t.field({ type: TestClockRef, nullable: true, resolve: (p) => p.testClock ?? null }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

builder.mutationFields((t) => ({
  advanceTestClock: t.field({
    type: TestClockPayload,
    description:
      'Test keys only. Moves the test clock forward to `to`, or `by` an ISO 8601 duration ("P14D", "PT36H"), and runs everything that falls due meanwhile, in order, on the test clock. Returns READY when done within a few seconds, else ADVANCING (it goes on; testClockChanged reports READY). A second call while ADVANCING extends the target; a target the clock has reached does nothing; an earlier one is refused (CLOCK_BACKWARDS).',
    args: { to: t.arg({ type: 'DateTime' }), by: t.arg.string() },
    resolve: (_root, args, ctx) => payload(async () => ({ testClock: await advanceTestClock(ctx, { to: args.to, by: args.by }) })),
  }),
}));

builder.subscriptionFields((t) => ({
  testClockChanged: t.field({
    type: TestClockRef,
    description: "The test clock each time it changes (ADVANCING, then READY at its target). Test keys only.",
    subscribe: (_root, _args, ctx) => {
      if (!ctx.liveWorkspaceId) throw testKeyRequired();
      return testClockFeed(ctx.runtime.db, ctx.workspaceId);
    },
    resolve: (clock) => clock,
  }),
}));

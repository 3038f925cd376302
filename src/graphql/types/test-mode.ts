// Test mode: the test twin's key and its clock.
import { createTestKey, testClock, type TestClock } from '../../services/test-mode.js';
import { builder } from '../builder.js';
import { TestClockStatusEnum } from './enums.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

export const TestClockRef = builder.objectRef<TestClock>('TestClock').implement({
  description: "A test workspace's clock: frozen at the twin's creation, moved forward only by advanceTestClock.",
  fields: (t) => ({
    frozenTime: t.expose('frozenTime', { type: 'DateTime', description: 'The time every write of the test workspace carries' }),
    status: t.expose('status', { type: TestClockStatusEnum, description: 'ADVANCING while due work up to frozenTime is still running' }),
  }),
});

const TestKeyPayload = builder.objectRef<{ key?: string; errors: UserErrorShape[] }>('TestKeyPayload').implement({
  fields: (t) => ({
    key: t.string({ nullable: true, description: 'The new test key (sk_test_…), shown once', resolve: (p) => p.key ?? null }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

builder.queryFields((t) => ({
  testClock: t.field({
    type: TestClockRef,
    nullable: true,
    description: "The test workspace's clock; null for a live key.",
    resolve: (_root, _args, ctx) => testClock(ctx),
  }),
}));

builder.mutationFields((t) => ({
  createTestKey: t.field({
    type: TestKeyPayload,
    description:
      "With a live key: a new key for the workspace's test twin (created on first use, its clock frozen at that moment), shown once. Test data is separate from live data. Refused (LIVE_KEY_REQUIRED) with a test key.",
    resolve: (_root, _args, ctx) => payload(() => createTestKey(ctx)),
  }),
}));

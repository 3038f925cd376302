// Test mode: every live workspace may have a test twin, a workspace of its own
// (so the tenant scope keeps the two apart) addressed by sk_test_ keys, running
// on a test clock that only advanceTestClock moves.
import { createTestKey as createTwinKey } from '../auth/api-keys.js';
import type { Caller } from '../auth/actor.js';
import { UserError } from '../domain/errors.js';
import { readTestClock, type TestClockState } from '../engine/test-clock.js';

/** The caller with its mode: `liveWorkspaceId` is set for a test key. */
export interface ModeActor extends Caller {
  liveWorkspaceId: string | null;
}

export type TestClock = TestClockState;

/** A new key for the caller's test twin (created on first use, its clock frozen now), shown once. */
export async function createTestKey(actor: ModeActor): Promise<{ key: string }> {
  if (actor.liveWorkspaceId) throw liveKeyRequired();
  const created = await createTwinKey(actor.runtime.db, actor.workspaceId, actor.runtime.clock.now());
  if (!created) throw liveKeyRequired();
  return { key: created.key };
}

/** The test clock of the caller's workspace, or null for a live key. */
export async function testClock(actor: ModeActor): Promise<TestClock | null> {
  if (!actor.liveWorkspaceId) return null;
  return readTestClock(actor.runtime.db, actor.workspaceId);
}

const liveKeyRequired = () => new UserError('This needs a live key: a test key has no test twin of its own', [], 'LIVE_KEY_REQUIRED');

/** For what only a test key may do (advanceTestClock). */
export const testKeyRequired = () => new UserError('This needs a test key (sk_test_…): a live workspace has no test clock', [], 'TEST_KEY_REQUIRED');

// advanceTestClock: moves a test workspace's clock forward (to an instant, or by
// an ISO 8601 duration) and waits a few seconds for the due work to be done; a
// longer advance goes on in the background and the clock reports ADVANCING.
import type { Caller } from '../auth/actor.js';
import { addIsoDuration, parseIsoDuration } from '../domain/iso-duration.js';
import { UserError } from '../domain/errors.js';
import type { EngineContext } from '../engine/context.js';
import { advanceFor, readTestClock, requestAdvance, testClockTopic, type TestClockState } from '../engine/test-clock.js';
import { waitForChange } from '../realtime/change-notifier.js';
import { testKeyRequired } from './test-mode.js';

/** How long the mutation waits for the advance before answering ADVANCING. */
const WAIT_MS = 5_000;
/** The furthest one advance may go (Stripe's limit for a clock without subscriptions). */
const MAX_YEARS = 2;

export interface AdvanceInput {
  to?: Date | null;
  by?: string | null;
}

/**
 * `by` counts from where the clock is going: its target while ADVANCING (so two
 * `by: "P1D"` in a row make two days), else its frozen time.
 */
export async function advanceTestClock(actor: Caller, input: AdvanceInput, options: { waitMs?: number } = {}): Promise<TestClockState> {
  const clock = await readTestClock(actor.runtime.db, actor.workspaceId);
  if (!clock) throw testKeyRequired();
  if ((input.to == null) === (input.by == null)) throw new UserError('Give exactly one of to and by', ['to'], 'INVALID_INPUT');
  const duration = input.by == null ? null : parseIsoDuration(input.by);
  const field = input.by != null ? ['by'] : ['to'];
  if (input.by != null && !duration) throw invalidDuration();
  const targetOf = (now: TestClockState): Date => {
    const target = duration ? addIsoDuration(now.advancingTo ?? now.frozenTime, duration) : input.to!;
    if (!target) throw invalidDuration();
    const limit = new Date(now.frozenTime);
    limit.setUTCFullYear(limit.getUTCFullYear() + MAX_YEARS);
    if (target > limit) throw new UserError(`A test clock advances at most ${MAX_YEARS} years at a time`, field, 'CLOCK_TOO_FAR');
    return target;
  };
  const state = await requestAdvance(actor.runtime, actor.workspaceId, targetOf, field);
  // READY: nothing to do (already there). ADVANCING: work it here, or wait for the process that does.
  if (state.status === 'READY') return state;
  return (await settled(actor.runtime, actor.workspaceId, state.advancingTo!, options.waitMs ?? WAIT_MS)) ?? state;
}

const invalidDuration = () => new UserError('by must be an ISO 8601 duration such as "P14D" or "PT36H"', ['by'], 'INVALID_DURATION');

/** The clock once it is READY at `target` or later, or its state after `ms`. */
async function settled(ctx: EngineContext, workspaceId: string, target: Date, ms: number): Promise<TestClockState | null> {
  const deadline = Date.now() + ms;
  let state = await advanceFor(ctx, workspaceId, ms);
  // Worked by another process (or taken over after a crash): follow its notifications.
  while (state && !(state.status === 'READY' && state.frozenTime >= target) && Date.now() < deadline) {
    await waitForChange(testClockTopic(workspaceId), Math.min(250, deadline - Date.now()));
    state = await advanceFor(ctx, workspaceId, 0);
  }
  return state;
}

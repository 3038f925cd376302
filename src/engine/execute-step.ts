// Executing one due step directly (not through a worker's batch): the same claim,
// hand-off and record as a batch of one. A refusal before the final attempt
// leaves no trace and is thrown, as pg-boss would see it from a job.
import { transaction } from '../db/transaction.js';
import type { EngineContext } from './context.js';
import type { Outbox } from './outbox.js';
import type { StepJob } from './queues.js';
import { claimSteps, type StepOutcome } from './step-batch.js';

export { discountCode } from '../integrations/discounts.js';
export type { StepOutcome };

export async function executeStep(ctx: EngineContext & { outbox: Outbox }, job: StepJob, options: { finalAttempt: boolean }): Promise<StepOutcome> {
  const item = { jobId: null, enrollmentId: job.enrollmentId, stepId: job.stepId, finalAttempt: options.finalAttempt };
  const claimed = await transaction(ctx, (tx) => claimSteps(ctx, tx, [item], { skipLocked: false }), { timeout: 60_000, maxWait: 30_000 });
  for (const handoff of claimed.handoffs) await ctx.outbox.dispatch(ctx, handoff);
  const outcome = claimed.outcomes[0]!;
  return outcome === 'pending' ? 'executed' : outcome;
}

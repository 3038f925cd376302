// Writes the steps of a sequence created from a goal. PENDING → RUNNING is committed
// before the generator is asked (it may take a while, and no transaction is held
// meanwhile); the steps and DONE, or FAILED with the reason, are written together
// afterwards. A job that finds the sequence neither PENDING nor RUNNING does nothing.
import { transaction } from '../db/transaction.js';
import { DraftGenerationError, type DraftEmail, type DraftRequest } from '../domain/sequence-draft.js';
import { stepSchema, type TriggerType } from '../domain/sequence-input.js';
import type { Tx } from '../db/client.js';
import { replaceSteps } from './steps.js';
import { lockSequenceRow } from './locks.js';
import type { GenerateSequenceJob } from './queues.js';
import type { EngineContext } from './context.js';

export type GenerationOutcome = 'done' | 'failed' | 'skipped';

async function lockSequence(tx: Tx, id: string) {
  await lockSequenceRow(tx, id);
  return tx.sequence.findUnique({ where: { id } });
}

export async function generateSequence(ctx: EngineContext, job: GenerateSequenceJob, options: { finalAttempt: boolean }): Promise<GenerationOutcome> {
  const request = await transaction(ctx, async (tx): Promise<DraftRequest | null> => {
    const sequence = await lockSequence(tx, job.sequenceId);
    // RUNNING too: a worker that died while generating left it so, and this is the retry.
    if (!sequence || (sequence.generationStatus !== 'PENDING' && sequence.generationStatus !== 'RUNNING')) return null;
    if (!sequence.goal || !sequence.emailCount) {
      await tx.sequence.update({
        where: { id: sequence.id },
        data: { generationStatus: 'FAILED', generationError: 'The sequence has no goal to write a draft from' },
      });
      return null;
    }
    await tx.sequence.update({ where: { id: sequence.id }, data: { generationStatus: 'RUNNING', generationError: null } });
    return {
      goal: sequence.goal,
      emailCount: sequence.emailCount,
      sequenceName: sequence.name,
      trigger: {
        type: sequence.triggerType as TriggerType,
        eventName: sequence.triggerEventName,
        tagName: sequence.triggerTagName,
        inactiveDays: sequence.triggerInactiveDays,
      },
    };
  });
  if (!request) return 'skipped';

  let emails: DraftEmail[];
  try {
    emails = await ctx.generator.generate(request);
  } catch (error) {
    // An unexpected error is retried by pg-boss; on the last attempt it becomes the reason.
    if (!(error instanceof DraftGenerationError) && !options.finalAttempt) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    return (await finish(ctx, job.sequenceId, { failed: reason })) ? 'failed' : 'skipped';
  }
  return (await finish(ctx, job.sequenceId, { emails })) ? 'done' : 'skipped';
}

/** Writes the outcome unless the sequence left RUNNING meanwhile. */
async function finish(ctx: EngineContext, sequenceId: string, outcome: { emails: DraftEmail[] } | { failed: string }): Promise<boolean> {
  return transaction(ctx, async (tx) => {
    const sequence = await lockSequence(tx, sequenceId);
    if (!sequence || sequence.generationStatus !== 'RUNNING') return false;
    if ('failed' in outcome) {
      await tx.sequence.update({ where: { id: sequenceId }, data: { generationStatus: 'FAILED', generationError: outcome.failed } });
      return true;
    }
    if (sequence.status === 'ARCHIVED') {
      await tx.sequence.update({
        where: { id: sequenceId },
        data: { generationStatus: 'FAILED', generationError: 'The sequence was archived before its draft was written' },
      });
      return true;
    }
    // The same rules as steps given through the API (subject length, blocks, delay).
    const steps = outcome.emails.map((email) =>
      stepSchema.parse({ type: 'EMAIL', subject: email.subject, previewText: email.previewText || null, blocks: email.blocks, delay: email.delay }),
    );
    await replaceSteps(ctx, tx, sequenceId, steps);
    await tx.sequence.update({ where: { id: sequenceId }, data: { generationStatus: 'DONE', generationError: null } });
    return true;
  });
}

// Events and runs: trackEvent, enrolling by hand, removing, pausing, resuming
// and replies. Each call is one transaction with the jobs it schedules.
import { transaction } from '../db/transaction.js';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { boundedJson } from '../domain/json-limits.js';
import { emailSchema } from '../domain/email-address.js';
import { UserError } from '../domain/errors.js';
import { encodeId } from '../domain/public-id.js';
import type { Fact } from '../domain/triggers.js';
import type { Db, Tx } from '../db/client.js';
import type { EngineContext } from '../engine/context.js';
import type { Enrollment, Prisma } from '../generated/prisma/client.js';
import { advisoryLock, lockRunRow } from '../engine/locks.js';
import { transitionRuns } from '../engine/lifecycle.js';
import { OPEN_STATUSES } from '../engine/run-status.js';
import type { Decision } from '../domain/run-machine/index.js';
import { startRun } from '../engine/start-run.js';
import { idempotencyKeySchema } from './events.js';
import type { EnrollmentSkip } from '../engine/triggers.js';
import { changed, subscriberInputSchema, upsertSubscriberInTx } from './audience.js';
import type { Actor, Caller } from '../auth/actor.js';
import { owned } from '../db/scope.js';
import { parseInput } from './user-input.js';

const propertiesSchema = boundedJson(z.record(z.string(), z.json(), { message: 'must be a JSON object' }));

// trackEvent lives with trackEvents in events.ts; re-exported for existing callers.
export { trackEvent, type TrackedEvent } from './events.js';

const enrollSchema = z.object({
  sequenceId: z.string(),
  subscriber: subscriberInputSchema,
  properties: propertiesSchema.nullish(),
  idempotencyKey: idempotencyKeySchema.nullish(),
});

export interface Enrolled {
  enrollmentId: string;
  /** Sequences that started nothing, or only queued the run (this one included). */
  skipped: EnrollmentSkip[];
}

/** Starts a run by hand (any trigger type), creating or updating the subscriber. */
export async function enrollSubscriber(actor: Caller, rawInput: unknown): Promise<string> {
  return (await enroll(actor, rawInput)).enrollmentId;
}

/** enrollSubscriber, with the sequences that started nothing. */
export async function enroll(actor: Caller, rawInput: unknown): Promise<Enrolled> {
  const input = parseInput(enrollSchema, rawInput, ['input']);
  return transaction(actor.runtime, async (tx) => {
    const sequence = await owned(tx, actor, 'Sequence', input.sequenceId, { field: ['input', 'sequenceId'] });
    if (sequence.status !== 'ACTIVE') {
      throw new UserError(
        `The sequence is ${sequence.status.toLowerCase()}; enable it before enrolling subscribers`,
        ['input', 'sequenceId'],
        'SEQUENCE_NOT_ACTIVE',
      );
    }
    const { id: subscriberId, facts } = await upsertSubscriberInTx(tx, actor, input.subscriber, ['input', 'subscriber']);
    const entryEvent = input.properties ?? null;
    const result = await startRun(actor.runtime, tx, {
      sequence,
      subscriberId,
      entryEvent,
      idempotencyKey: input.idempotencyKey ?? null,
    });
    if (!result.started) {
      if (result.code === 'DUPLICATE' && result.enrollmentId) {
        const earlier = await tx.enrollment.findUniqueOrThrow({ where: { id: result.enrollmentId } });
        if (earlier.subscriberId === subscriberId && isDeepStrictEqual(earlier.entryEvent ?? null, entryEvent)) return { enrollmentId: earlier.id, skipped: [] };
        throw new UserError('This idempotencyKey was already used for a different enrollment', ['input', 'idempotencyKey'], 'IDEMPOTENCY_CONFLICT');
      }
      throw new UserError(result.reason, ['input', 'sequenceId'], result.code);
    }
    const others = await changed(tx, actor, subscriberId, facts);
    const own = result.code && result.reason ? [{ sequenceId: sequence.id, code: result.code, reason: result.reason }] : [];
    return { enrollmentId: result.enrollmentId, skipped: [...own, ...others.skipped] };
  });
}

/**
 * Cancels the subscriber's open runs of the sequence. Each ended run also gets
 * `completedAt` (Broadcast's "completed or removed" time). Returns them, newest first.
 */
export async function removeSubscriberFromSequence(actor: Caller, rawInput: unknown): Promise<string[]> {
  const input = parseInput(z.object({ sequenceId: z.string(), email: emailSchema }), rawInput, ['input']);
  return transaction(actor.runtime, async (tx) => {
    const sequence = await owned(tx, actor, 'Sequence', input.sequenceId, { field: ['input', 'sequenceId'] });
    const runs = await tx.enrollment.findMany({
      where: { sequenceId: sequence.id, subscriber: { email: input.email }, status: { in: OPEN_STATUSES } },
      orderBy: { startedAt: 'desc' },
    });
    if (!runs.length) throw new UserError(`${input.email} has no active run of this sequence`, ['input', 'email'], 'NOT_FOUND');
    await transitionRuns(actor.runtime, tx, runs.map((r) => r.id), { kind: 'cancel', reason: 'removed from sequence', markCompleted: true });
    return runs.map((r) => r.id);
  });
}

/** Pause and resume return the run as their transaction committed it (under the row lock), for the reply. */
export async function pauseEnrollment(actor: Caller, id: string): Promise<Enrollment> {
  return transaction(actor.runtime, async (tx) => {
    const run = await owned(tx, actor, 'Enrollment', id, { field: ['id'], lock: true });
    await transitionRuns(actor.runtime, tx, [run.id], { kind: 'pause', reason: 'paused by hand' }, { onRefused: refusal });
    return tx.enrollment.findUniqueOrThrow({ where: { id: run.id } });
  });
}

/** A resumed run goes on with the step it was waiting for, at once if that fell due meanwhile. */
export async function resumeEnrollment(actor: Caller, id: string): Promise<Enrollment> {
  return transaction(actor.runtime, async (tx) => {
    const run = await owned(tx, actor, 'Enrollment', id, { field: ['id'], lock: true });
    await transitionRuns(actor.runtime, tx, [run.id], { kind: 'resume' }, { onRefused: refusal });
    return tx.enrollment.findUniqueOrThrow({ where: { id: run.id } });
  });
}

/** A refused transition as the mutation's error. */
function refusal(decision: Decision): never {
  throw new UserError(decision.reason ?? 'Not allowed', ['id'], decision.code ?? 'INVALID_TRANSITION');
}

/**
 * Jobs for runs that wait on a step (when their disabled sequence is enabled
 * again). A run that still has its job gets a second one; whichever comes later
 * finds the step done and skips, so nothing is sent twice.
 */
export async function rescheduleCurrentSteps(ctx: EngineContext, tx: Tx, runs: { id: string }[]) {
  await transitionRuns(ctx, tx, runs.map((r) => r.id), { kind: 'sequenceEnabled' });
}

const replySchema = z.object({
  messageId: z.string(),
  sentiment: z.enum(['POSITIVE', 'NEUTRAL', 'NEGATIVE']).nullish(),
  fromPrimary: z.boolean().nullish(),
});

/**
 * Records a reply to a message and applies the sequence's reply action: the
 * primary one for the primary recipient, the secondary one (default CONTINUE) for
 * anyone else. FINISH completes the run, CONTINUE lets it go on, PAUSE pauses it
 * for the matching pause duration and then finishes it.
 */
export async function recordReply(actor: Caller, rawInput: unknown): Promise<string | null> {
  const input = parseInput(replySchema, rawInput, ['input']);
  return transaction(actor.runtime, async (tx) => {
    const message = await owned(tx, actor, 'Message', input.messageId, { field: ['input', 'messageId'] });
    const at = actor.runtime.clock.now();
    await tx.message.update({
      where: { id: message.id },
      data: {
        repliedAt: message.repliedAt ?? at,
        replySentiment: input.sentiment ?? message.replySentiment ?? 'NEUTRAL',
        replyFromPrimary: input.fromPrimary ?? true,
      },
    });
    await tx.messageEvent.create({ data: { messageId: message.id, type: 'REPLY', data: { sentiment: input.sentiment ?? null }, createdAt: at } });
    if (!message.enrollmentId) return null;
    const run = await owned(tx, actor, 'Enrollment', encodeId('Enrollment', message.enrollmentId), { field: ['id'], lock: true });
    if (!OPEN_STATUSES.includes(run.status)) return run.id;
    // A reply from someone else on the thread follows the secondary action (Outreach's rule).
    await transitionRuns(actor.runtime, tx, [run.id], { kind: 'reply', primary: input.fromPrimary !== false }, { at });
    return run.id;
  });
}

export { finishReplyPause } from '../engine/lifecycle.js';

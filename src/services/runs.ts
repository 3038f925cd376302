// Events and runs: trackEvent, enrolling by hand, removing, pausing, resuming
// and replies. Each call is one transaction with the jobs it schedules.
import { transaction } from '../db/transaction.js';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { boundedJson } from '../domain/json-limits.js';
import { now } from '../clock.js';
import { emailSchema } from '../domain/email-address.js';
import { UserError } from '../domain/errors.js';
import { encodeId } from '../domain/public-id.js';
import type { Fact } from '../domain/triggers.js';
import { db, type Tx } from '../db/client.js';
import type { Enrollment, Prisma } from '../generated/prisma/client.js';
import { enqueue } from '../engine/boss.js';
import { advisoryLock, lockRunRow } from '../engine/locks.js';
import { QUEUES } from '../engine/queues.js';
import { runEnded } from '../engine/release-queued.js';
import { OPEN_STATUSES, setRunStatus } from '../engine/run-status.js';
import { startRun } from '../engine/start-run.js';
import { idempotencyKeySchema } from './events.js';
import type { EnrollmentSkip } from '../engine/triggers.js';
import { changed, subscriberInputSchema, upsertSubscriberInTx } from './audience.js';
import type { Actor } from '../auth/actor.js';
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
export async function enrollSubscriber(actor: Actor, rawInput: unknown): Promise<string> {
  return (await enroll(actor, rawInput)).enrollmentId;
}

/** enrollSubscriber, with the sequences that started nothing. */
export async function enroll(actor: Actor, rawInput: unknown): Promise<Enrolled> {
  const input = parseInput(enrollSchema, rawInput, ['input']);
  return transaction(async (tx) => {
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
    const result = await startRun(tx, {
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
export async function removeSubscriberFromSequence(actor: Actor, rawInput: unknown): Promise<string[]> {
  const input = parseInput(z.object({ sequenceId: z.string(), email: emailSchema }), rawInput, ['input']);
  return transaction(async (tx) => {
    const sequence = await owned(tx, actor, 'Sequence', input.sequenceId, { field: ['input', 'sequenceId'] });
    const runs = await tx.enrollment.findMany({
      where: { sequenceId: sequence.id, subscriber: { email: input.email }, status: { in: OPEN_STATUSES } },
      orderBy: { startedAt: 'desc' },
    });
    if (!runs.length) throw new UserError(`${input.email} has no active run of this sequence`, ['input', 'email'], 'NOT_FOUND');
    const at = now();
    for (const run of runs) await setRunStatus(tx, run, 'CANCELLED', 'removed from sequence', { completedAt: at, cancelledAt: at });
    await runEnded(tx, sequence);
    return runs.map((r) => r.id);
  });
}

/** Pause and resume return the run as their transaction committed it (under the row lock), for the reply. */
export async function pauseEnrollment(actor: Actor, id: string): Promise<Enrollment> {
  return transaction(async (tx) => {
    const run = await owned(tx, actor, 'Enrollment', id, { field: ['id'], lock: true });
    if (run.status !== 'ACTIVE') throw new UserError(`Only an active run can be paused; this one is ${run.status.toLowerCase()}`, ['id'], 'INVALID_TRANSITION');
    await setRunStatus(tx, run, 'PAUSED', 'paused by hand');
    return tx.enrollment.findUniqueOrThrow({ where: { id: run.id } });
  });
}

/** A resumed run goes on with the step it was waiting for, at once if that fell due meanwhile. */
export async function resumeEnrollment(actor: Actor, id: string): Promise<Enrollment> {
  return transaction(async (tx) => {
    const run = await owned(tx, actor, 'Enrollment', id, { field: ['id'], lock: true });
    if (run.status !== 'PAUSED') throw new UserError(`Only a paused run can be resumed; this one is ${run.status.toLowerCase()}`, ['id'], 'INVALID_TRANSITION');
    const due = new Date(Math.max(now().getTime(), run.nextTriggerAt?.getTime() ?? 0));
    await setRunStatus(tx, run, 'ACTIVE', 'resumed', { nextTriggerAt: due });
    await rescheduleCurrentSteps(tx, [{ ...run, nextTriggerAt: due }]);
    return tx.enrollment.findUniqueOrThrow({ where: { id: run.id } });
  });
}

/**
 * Jobs for runs that wait on a step (after a resume, or when their disabled
 * sequence is enabled again). A run that still has its job gets a second one;
 * whichever comes later finds the step done and skips, so nothing is sent twice.
 */
export async function rescheduleCurrentSteps(
  tx: Tx,
  runs: { id: string; sequenceId: string; currentStepPosition: number | null; nextTriggerAt: Date | null }[],
) {
  const at = now();
  const positions = runs.filter((r) => r.currentStepPosition !== null);
  if (!positions.length) return;
  const steps = await tx.step.findMany({
    where: { sequenceId: { in: [...new Set(positions.map((r) => r.sequenceId))] }, position: { not: null } },
    select: { id: true, sequenceId: true, position: true },
  });
  const stepAt = new Map(steps.map((s) => [`${s.sequenceId}:${s.position}`, s.id]));
  await enqueue(
    tx,
    positions.flatMap((r) => {
      const stepId = stepAt.get(`${r.sequenceId}:${r.currentStepPosition}`);
      const due = new Date(Math.max(at.getTime(), r.nextTriggerAt?.getTime() ?? 0));
      return stepId ? [{ name: QUEUES.step, data: { enrollmentId: r.id, stepId }, startAfter: due }] : [];
    }),
  );
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
export async function recordReply(actor: Actor, rawInput: unknown): Promise<string | null> {
  const input = parseInput(replySchema, rawInput, ['input']);
  return transaction(async (tx) => {
    const message = await owned(tx, actor, 'Message', input.messageId, { field: ['input', 'messageId'] });
    const at = now();
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
    const sequence = await tx.sequence.findUniqueOrThrow({ where: { id: run.sequenceId } });
    // A reply from someone else on the thread follows the secondary action (Outreach's rule).
    const primary = input.fromPrimary !== false;
    const action = primary ? sequence.primaryReplyAction : sequence.secondaryReplyAction;
    const pauseSeconds = (primary ? sequence.primaryReplyPauseDuration : sequence.secondaryReplyPauseDuration) ?? 0;
    const reason = primary ? 'replied' : 'replied (secondary)';
    if (action === 'FINISH') {
      await setRunStatus(tx, run, 'COMPLETED', reason);
      await runEnded(tx, sequence);
    } else if (action === 'PAUSE' && run.status !== 'PAUSED') {
      const until = new Date(at.getTime() + pauseSeconds * 1000);
      await setRunStatus(tx, run, 'PAUSED', reason, { pausedUntil: until });
      await enqueue(tx, [{ name: QUEUES.pauseTimeout, data: { enrollmentId: run.id, pausedUntil: until.toISOString() }, startAfter: until }]);
    }
    return run.id;
  });
}

/** The PAUSE reply action's end: a run still paused by that reply finishes. */
export async function finishReplyPause(enrollmentId: string, pausedUntil: Date): Promise<void> {
  await transaction(async (tx) => {
    await lockRunRow(tx, enrollmentId);
    const run = await tx.enrollment.findUnique({ where: { id: enrollmentId }, include: { sequence: true } });
    if (!run || run.status !== 'PAUSED' || run.pausedUntil?.getTime() !== pausedUntil.getTime()) return;
    await setRunStatus(tx, run, 'COMPLETED', 'reply pause ended');
    await runEnded(tx, run.sequence);
  });
}

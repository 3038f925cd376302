// Starting a run: enrollment modes, limits and throttles decide whether it
// starts, waits (QUEUED) or is refused; the first step's job is created in the
// same transaction.
import { now } from '../clock.js';
import { delayToSeconds } from '../domain/delay.js';
import { enrollmentKey } from '../domain/enrollment-key.js';
import { dueAt, type SendWindow } from '../domain/schedule.js';
import type { Tx } from '../db/client.js';
import type { Prisma, Sequence } from '../generated/prisma/client.js';
import { enqueue } from './boss.js';
import { advisoryLock } from './locks.js';
import { QUEUES } from './queues.js';
import { OPEN_STATUSES, logRunChanges, unwrittenRunChanges } from './run-status.js';

export interface StartRunInput {
  sequence: Sequence;
  subscriberId: string;
  /** Properties of the event that started the run, snapshotted on it. */
  entryEvent?: Record<string, unknown> | null;
  entryEventId?: string | null;
  eventName?: string | null;
  idempotencyKey?: string | null;
}

export type StartRunResult =
  | { started: true; enrollmentId: string; status: 'ACTIVE' | 'QUEUED' | 'COMPLETED' }
  | { started: false; reason: string; code: string; enrollmentId?: string };

export async function startRun(tx: Tx, input: StartRunInput): Promise<StartRunResult> {
  const { sequence, subscriberId } = input;
  const idempotencyKey = input.idempotencyKey ?? null;

  if (idempotencyKey) {
    await advisoryLock(tx, 'idempotency', sequence.id, idempotencyKey);
    const existing = await tx.enrollment.findUnique({
      where: { sequenceId_idempotencyKey: { sequenceId: sequence.id, idempotencyKey } },
      select: { id: true },
    });
    if (existing) return { started: false, code: 'DUPLICATE', reason: 'A run was already started with this idempotency key', enrollmentId: existing.id };
  }

  let key: string | null = null;
  if (sequence.enrollmentMode === 'ONE_TIME') {
    await advisoryLock(tx, 'one-time', sequence.id, subscriberId);
    const before = await tx.enrollment.findFirst({ where: { sequenceId: sequence.id, subscriberId }, select: { id: true } });
    if (before) return { started: false, code: 'ONE_TIME', reason: 'The subscriber already ran this one-time sequence' };
  } else if (sequence.enrollmentMode === 'MATCHING_FIELD') {
    key = enrollmentKey({
      eventName: input.eventName ?? sequence.triggerEventName ?? '',
      fieldPath: sequence.enrollmentFieldPath ?? '',
      properties: input.entryEvent ?? {},
    });
    if (key === null) {
      return { started: false, code: 'NO_ENROLLMENT_KEY', reason: `The event has no value at ${sequence.enrollmentFieldPath}` };
    }
    await advisoryLock(tx, 'matching-field', sequence.id, key);
    const open = await tx.enrollment.findFirst({
      where: { sequenceId: sequence.id, enrollmentKey: key, status: { in: OPEN_STATUSES } },
      select: { id: true },
    });
    if (open) return { started: false, code: 'ALREADY_ACTIVE', reason: `A run for ${key} is already active`, enrollmentId: open.id };
  }

  const limited = sequence.maxActivations != null || sequence.throttleCapacity != null || sequence.throttleMaxAddsPerDay != null;
  if (limited) await advisoryLock(tx, 'limits', sequence.id);
  if (sequence.maxActivations != null) {
    const total = await tx.enrollment.count({ where: { sequenceId: sequence.id } });
    if (total >= sequence.maxActivations) {
      return { started: false, code: 'MAX_ACTIVATIONS', reason: `The sequence reached its maximum of ${sequence.maxActivations} runs` };
    }
  }

  const at = now();
  const queued = sequence.throttlePaused || !(await hasRoomToStart(tx, sequence, at));
  const enrollment = await tx.enrollment.create({
    data: {
      workspaceId: sequence.workspaceId,
      sequenceId: sequence.id,
      subscriberId,
      status: queued ? 'QUEUED' : 'ACTIVE',
      enrollmentKey: key,
      idempotencyKey,
      entryEventId: input.entryEventId ?? null,
      entryEvent: (input.entryEvent ?? undefined) as Prisma.InputJsonValue | undefined,
      startedAt: at,
    },
  });
  const run = { id: enrollment.id, workspaceId: sequence.workspaceId, sequenceId: sequence.id, subscriberId };
  await logRunChanges(tx, [{ ...run, previousStatus: null, status: enrollment.status, reason: queued ? 'throttled' : null, occurredAt: at }]);
  // At most once a minute: this row lock would otherwise queue every start of the sequence.
  await tx.sequence.updateMany({
    where: { id: sequence.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(at.getTime() - 60_000) } }] },
    data: { lastUsedAt: at },
  });
  if (queued) return { started: true, enrollmentId: enrollment.id, status: 'QUEUED' };
  const status = await scheduleFirstStep(tx, { ...run, sequence }, at);
  return { started: true, enrollmentId: enrollment.id, status };
}

/** Throttles: capacity counts runs in progress; the daily limit counts runs begun since midnight UTC. */
export async function hasRoomToStart(tx: Tx, sequence: Sequence, at: Date): Promise<boolean> {
  if (sequence.throttleCapacity != null) {
    const inProgress = await tx.enrollment.count({ where: { sequenceId: sequence.id, status: { in: ['ACTIVE', 'PAUSED'] } } });
    if (inProgress >= sequence.throttleCapacity) return false;
  }
  if (sequence.throttleMaxAddsPerDay != null) {
    const dayStart = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
    const begunToday = await tx.enrollmentChange.count({
      where: {
        sequenceId: sequence.id,
        status: 'ACTIVE',
        OR: [{ previousStatus: null }, { previousStatus: 'QUEUED' }],
        occurredAt: { gte: dayStart },
      },
    });
    // Runs begun earlier in this transaction (a release batch) are logged only at commit.
    const begunHere = unwrittenRunChanges(tx).filter(
      (c) =>
        c.sequenceId === sequence.id &&
        c.status === 'ACTIVE' &&
        (c.previousStatus === null || c.previousStatus === 'QUEUED') &&
        c.occurredAt >= dayStart,
    ).length;
    if (begunToday + begunHere >= sequence.throttleMaxAddsPerDay) return false;
  }
  return true;
}

/**
 * Points an ACTIVE run at its first step (due after that step's delay) and
 * creates the step's job; a sequence without steps completes at once.
 */
export async function scheduleFirstStep(
  tx: Tx,
  run: { id: string; workspaceId: string; sequenceId: string; subscriberId: string; sequence: Pick<Sequence, 'sendWindow'> },
  from: Date,
): Promise<'ACTIVE' | 'COMPLETED'> {
  const first = await tx.step.findFirst({
    where: { sequenceId: run.sequenceId, position: { not: null } },
    orderBy: { position: 'asc' },
  });
  if (!first) {
    await tx.enrollment.update({ where: { id: run.id }, data: { status: 'COMPLETED', completedAt: from } });
    await logRunChanges(tx, [{ ...run, previousStatus: 'ACTIVE', status: 'COMPLETED', reason: 'no steps', occurredAt: from }]);
    return 'COMPLETED';
  }
  const due = dueAt(from, delayToSeconds({ days: first.delayDays, hours: first.delayHours, minutes: first.delayMinutes }), run.sequence.sendWindow as SendWindow | null);
  await tx.enrollment.update({ where: { id: run.id }, data: { currentStepPosition: first.position, nextTriggerAt: due } });
  await enqueue(tx, [{ name: QUEUES.step, data: { enrollmentId: run.id, stepId: first.id }, startAfter: due }]);
  return 'ACTIVE';
}

// Sequence definitions: create, edit and move through statuses. Each call is one
// transaction, so an invalid step leaves nothing behind.
import { transaction } from '../db/transaction.js';
import type { Actor, Caller } from '../auth/actor.js';
import { owned } from '../db/scope.js';
import { UserError, notFound } from '../domain/errors.js';
import { importHtml } from '../domain/html-import.js';
import { defaultEnrollmentMode } from '../domain/enrollment-key.js';
import {
  checkDateSteps,
  checkReplyPause,
  createSequenceSchema,
  updateSequenceSchema,
  type StepDefinition,
  type UpdateSequenceDefinition,
} from '../domain/sequence-input.js';
import { transition, type SequenceAction } from '../domain/sequence-status.js';
import { slugify, uniqueSlug } from '../domain/slug.js';
import type { Db, Tx } from '../db/client.js';
import { Prisma, type Sequence } from '../generated/prisma/client.js';
import { tryDecodeId } from '../domain/public-id.js';
import { parseInput, UserErrors } from './user-input.js';
import { isShopifyConnected, isStripeConnected } from './integrations.js';
import { rescheduleCurrentSteps } from './runs.js';
import { replaceSteps } from '../engine/steps.js';
import { recordVersion } from '../engine/versions.js';
import { VERSION_SETTINGS } from '../domain/run-machine/publish.js';
import { enqueue } from '../engine/boss.js';
import { compileLiveSteps } from '../engine/compiled-emails.js';
import { QUEUES } from '../engine/queues.js';

export type { Actor } from '../auth/actor.js';

const INPUT = ['input'];

export async function createSequence(actor: Caller, rawInput: unknown): Promise<string> {
  const input = parseInput(createSequenceSchema, rawInput, INPUT);
  return transaction(actor.runtime, async (tx) => {
    const triggerListId = input.listId ? await requireOwned(tx, actor, 'List', input.listId, 'listId') : null;
    const triggerSegmentId = input.segmentId
      ? await requireOwned(tx, actor, 'Segment', input.segmentId, 'segmentId')
      : null;
    await requireStopConditionList(tx, actor, input.stopCondition);
    const slug = await chooseSlug(tx, actor, input.slug ?? null, input.name);
    const sequence = await tx.sequence.create({
      data: {
        workspaceId: actor.workspaceId,
        slug,
        name: input.name,
        description: input.description ?? null,
        tags: input.tags,
        triggerType: input.trigger,
        triggerListId,
        triggerTagName: input.tagName ?? null,
        triggerSegmentId,
        triggerEventName: input.eventName ?? null,
        triggerInactiveDays: input.inactiveDays ?? null,
        triggerMinCount: input.minCount ?? null,
        triggerTimeWindowDays: input.timeWindowDays ?? null,
        enrollmentMode: input.enrollmentMode ?? defaultEnrollmentMode(input.trigger, input.eventName),
        enrollmentFieldPath: input.enrollmentFieldPath ?? null,
        sequenceType: input.sequenceType,
        dateFieldPath: input.dateFieldPath ?? null,
        stopConditionType: input.stopCondition.type,
        stopConditionValue: input.stopCondition.value ?? null,
        primaryReplyAction: input.primaryReplyAction,
        primaryReplyPauseDuration: input.primaryReplyPauseDuration ?? null,
        secondaryReplyAction: input.secondaryReplyAction,
        secondaryReplyPauseDuration: input.secondaryReplyPauseDuration ?? null,
        shareType: input.shareType,
        salesMotion: input.salesMotion ?? null,
        scheduleIntervalType: input.scheduleIntervalType,
        throttleCapacity: input.throttleCapacity ?? null,
        throttleMaxAddsPerDay: input.throttleMaxAddsPerDay ?? null,
        throttlePaused: input.throttlePaused,
        throttlePausedAt: input.throttlePaused ? actor.runtime.clock.now() : null,
        maxActivations: input.maxActivations ?? null,
        transactional: input.transactional,
        sendWindow: input.sendWindow ?? Prisma.DbNull,
        goal: input.goal ?? null,
        emailCount: input.goal ? (input.emailCount ?? 5) : null,
        generationStatus: input.goal ? 'PENDING' : 'NONE',
      },
    });
    if (input.steps?.length) await replaceSteps(actor.runtime, tx, sequence.id, input.steps);
    // A goal is drafted by a job that commits with the sequence; the answer returns PENDING at once.
    if (input.goal) await enqueue(actor.runtime, tx, [{ name: QUEUES.generateSequence, data: { sequenceId: sequence.id } }]);
    return sequence.id;
  });
}

export async function updateSequence(actor: Caller, id: string, rawInput: unknown): Promise<string> {
  const input = parseInput(updateSequenceSchema, rawInput, INPUT);
  return transaction(actor.runtime, async (tx) => {
    const current = await loadSequenceForUpdate(tx, actor, id);
    refuseIfDraft(current);
    if (current.status === 'ACTIVE' || current.status === 'PAUSED') {
      // Runs are on the live version: what they follow changes only by publishing a draft.
      const versioned = VERSIONED_INPUTS.find((field) => input[field] !== undefined);
      if (versioned) {
        throw new UserError(
          `${versioned} of a live sequence is edited in its draft (editSequenceDraft), then published (publishSequence)`,
          [...INPUT, versioned],
          'USE_DRAFT',
        );
      }
    }
    await editSequence(tx, actor, current, input);
    return current.id;
  });
}

/** The inputs that change what runs follow: steps, and VERSION_SETTINGS as UpdateSequenceInput names them. */
export const VERSIONED_INPUTS: readonly (keyof UpdateSequenceDefinition)[] = [
  'steps',
  'stopCondition',
  ...VERSION_SETTINGS.filter((key) => key !== 'stopConditionType' && key !== 'stopConditionValue'),
];

/** Applies an update to a locked sequence row: a never-enabled sequence, a live one's allowed settings, or a draft. */
export async function editSequence(tx: Tx, actor: Caller, current: Sequence, input: UpdateSequenceDefinition): Promise<void> {
  if (current.status === 'ARCHIVED') {
    throw new UserError('An archived sequence cannot be edited', ['id'], 'ARCHIVED');
  }
  refuseIfLocked(current);
  if (input.steps && (current.generationStatus === 'PENDING' || current.generationStatus === 'RUNNING')) {
    throw new UserError('The steps are still being generated; edit them once generation is done', [...INPUT, 'steps'], 'GENERATION_PENDING');
  }
  await requireStopConditionList(tx, actor, input.stopCondition);
  const merged = { ...current, ...input };
  const mergedErrors: UserError[] = [];
  checkReplyPause(merged, (path, message) => mergedErrors.push(new UserError(`${path} ${message}`, [...INPUT, path], 'VALIDATION')));
  if (input.steps) {
    checkDateSteps(current.sequenceType, current.dateFieldPath, input.steps, (path, message) =>
      mergedErrors.push(new UserError(`${String(path.at(-1))} ${message}`, [...INPUT, ...path.map(String)], 'VALIDATION')),
    );
  }
  if (mergedErrors.length) throw new UserErrors(mergedErrors);

  await tx.sequence.update({
    where: { id: current.id },
    data: {
      name: input.name,
      description: input.description,
      tags: input.tags,
      stopConditionType: input.stopCondition?.type,
      stopConditionValue: input.stopCondition ? (input.stopCondition.value ?? null) : undefined,
      primaryReplyAction: input.primaryReplyAction,
      primaryReplyPauseDuration: input.primaryReplyPauseDuration,
      secondaryReplyAction: input.secondaryReplyAction,
      secondaryReplyPauseDuration: input.secondaryReplyPauseDuration,
      shareType: input.shareType,
      salesMotion: input.salesMotion,
      scheduleIntervalType: input.scheduleIntervalType,
      throttleCapacity: input.throttleCapacity,
      throttleMaxAddsPerDay: input.throttleMaxAddsPerDay,
      throttlePaused: input.throttlePaused,
      // When the throttle was paused; kept while it stays paused, cleared when it is lifted.
      throttlePausedAt:
        input.throttlePaused === undefined ? undefined : input.throttlePaused ? (current.throttlePausedAt ?? actor.runtime.clock.now()) : null,
      maxActivations: input.maxActivations,
      transactional: input.transactional,
      sendWindow: input.sendWindow === undefined ? undefined : (input.sendWindow ?? Prisma.DbNull),
    },
  });
  if (input.steps) await replaceSteps(actor.runtime, tx, current.id, input.steps);
  // Relaxed throttles may let queued runs start.
  const throttles = ['throttlePaused', 'throttleCapacity', 'throttleMaxAddsPerDay'] as const;
  if (throttles.some((k) => input[k] !== undefined)) {
    await enqueue(actor.runtime, tx, [{ name: QUEUES.releaseQueued, data: { sequenceId: current.id }, workspaceId: current.workspaceId }]);
  }
}

/**
 * Returns the row as this transaction committed it (under the row lock), so a
 * reply reports its own change even when a racing call changes it right after.
 */
export async function changeSequenceStatus(actor: Caller, id: string, action: SequenceAction): Promise<Sequence> {
  const changed = await transaction(actor.runtime, async (tx) => {
    const current = await loadSequenceForUpdate(tx, actor, id);
    refuseIfDraft(current);
    if (action === 'archive') refuseIfLocked(current);
    const next = transition(current.status, action);
    if (action === 'enable') await checkEnableable(tx, current);
    // The first enable publishes version 1 (later versions come from publishSequence).
    if (current.status === 'DRAFT' && next.status === 'ACTIVE') await recordVersion(actor.runtime, tx, current.id, current.version, null);
    const updated = await tx.sequence.update({
      where: { id: current.id },
      data: {
        status: next.status,
        enabledAt: next.enabledAt === 'set' ? actor.runtime.clock.now() : next.enabledAt === 'clear' ? null : undefined,
      },
    });
    if (current.status === 'PAUSED' && next.status === 'ACTIVE') {
      // The runs' timelines stood still while disabled: steps that fell due go out once, now.
      // The status as a literal: the (sequenceId, status) index holds open runs only (schema.prisma).
      const waiting = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM "Enrollment" WHERE "sequenceId" = ${current.id}::uuid AND status = 'ACTIVE'`;
      await rescheduleCurrentSteps(actor.runtime, tx, waiting);
      await enqueue(actor.runtime, tx, [{ name: QUEUES.releaseQueued, data: { sequenceId: current.id }, workspaceId: current.workspaceId }]);
    }
    return updated;
  });
  // Its emails compiled now and stored, so workers fill them without MJML.
  if (action === 'enable' && changed.status === 'ACTIVE') await compileLiveSteps(actor.runtime, changed.id);
  return changed;
}

/** A live sequence's draft changes only through editSequenceDraft, publishSequence and discardSequenceDraft. */
export function refuseIfDraft(sequence: { draftOfId: string | null }) {
  if (sequence.draftOfId) {
    throw new UserError('This is the draft of a live sequence: publish it (publishSequence) or discard it (discardSequenceDraft)', ['id'], 'IS_DRAFT');
  }
}

/** Outreach's lock: a locked sequence keeps its definition until unlocked (it still runs). */
export function refuseIfLocked(sequence: { lockedAt: Date | null }) {
  if (sequence.lockedAt) {
    throw new UserError('The sequence is locked; unlock it (unlockSequence) before editing it', ['id'], 'SEQUENCE_LOCKED');
  }
}

/** Locks or unlocks the sequence; doing it twice is harmless (lockedAt keeps the first time). */
/** Returns the row as this transaction left it, like changeSequenceStatus. */
export async function setSequenceLock(actor: Caller, id: string, locked: boolean): Promise<Sequence> {
  return transaction(actor.runtime, async (tx) => {
    const current = await loadSequenceForUpdate(tx, actor, id);
    if (locked === (current.lockedAt !== null)) return current;
    return tx.sequence.update({ where: { id: current.id }, data: { lockedAt: locked ? actor.runtime.clock.now() : null } });
  });
}

/** What an ACTIVE sequence must satisfy: checked when enabling, and when publishing a version. */
export async function checkEnableable(tx: Tx, sequence: { id: string; workspaceId: string; generationStatus: string }, field = ['id']) {
  if (sequence.generationStatus === 'PENDING' || sequence.generationStatus === 'RUNNING') {
    throw new UserError('The sequence is still being generated', field, 'GENERATION_PENDING');
  }
  const steps = await tx.step.findMany({ where: { sequenceId: sequence.id, position: { not: null } }, select: { type: true, discount: true } });
  await checkSendable(tx, sequence.workspaceId, steps, field);
}

/** Steps a sequence can run: at least one, and each discount step's provider connected. */
export async function checkSendable(tx: Tx, workspaceId: string, steps: readonly { type: string; discount: unknown }[], field: string[]) {
  if (steps.length === 0) throw new UserError('A sequence needs at least one step to be enabled', field, 'NO_STEPS');
  const providers = new Set(steps.filter((s) => s.type === 'CREATE_DISCOUNT').map((s) => (s.discount as { provider?: string } | null)?.provider));
  if (providers.has('STRIPE') && !(await isStripeConnected(tx, workspaceId))) {
    throw new UserError('The sequence creates Stripe discounts: connect Stripe first (connectStripe)', field, 'STRIPE_NOT_CONNECTED');
  }
  if (providers.has('SHOPIFY') && !(await isShopifyConnected(tx, workspaceId))) {
    throw new UserError('The sequence creates Shopify discounts: connect Shopify first (connectShopify)', field, 'SHOPIFY_NOT_CONNECTED');
  }
}

/** Locks the row so concurrent status changes and edits apply one after the other. */
export function loadSequenceForUpdate(tx: Tx, actor: Caller, id: string) {
  return owned(tx, actor, 'Sequence', id, { field: ['id'], lock: true });
}

async function requireOwned(tx: Tx, actor: Caller, model: 'List' | 'Segment', id: string, field: string | string[]) {
  return (await owned(tx, actor, model, id, { field: [...INPUT, ...[field].flat()] })).id;
}

/** A list stop condition names a list of this workspace (by public ID), else NOT_FOUND. */
async function requireStopConditionList(tx: Tx, actor: Caller, condition: { type: string; value?: string | null } | undefined) {
  if (!condition?.type.endsWith('_LIST') || !condition.value) return;
  await requireOwned(tx, actor, 'List', condition.value, ['stopCondition', 'value']);
}

/** What createSequence did, in words (Sequenzy's `message`): a goal's emails are still being written. */
export async function creationMessage(db: Db, sequenceId: string): Promise<string> {
  const { emailCount, goal } = await db.sequence.findUniqueOrThrow({ where: { id: sequenceId }, select: { emailCount: true, goal: true } });
  if (!goal || !emailCount) return 'Sequence created.';
  return `Sequence created. Generating ${emailCount} email${emailCount === 1 ? '' : 's'}…`;
}

async function chooseSlug(tx: Tx, actor: Caller, requested: string | null, name: string) {
  if (requested) {
    const taken = await tx.sequence.findFirst({ where: { workspaceId: actor.workspaceId, slug: requested } });
    if (taken) throw new UserError(`The slug "${requested}" is already used by another sequence`, [...INPUT, 'slug'], 'SLUG_TAKEN');
    return requested;
  }
  const base = slugify(name);
  const existing = await tx.sequence.findMany({
    where: { workspaceId: actor.workspaceId, slug: { startsWith: base } },
    select: { slug: true },
  });
  const taken = new Set(existing.map((s) => s.slug));
  return uniqueSlug(base, (slug) => taken.has(slug));
}

export { replaceSteps } from '../engine/steps.js';

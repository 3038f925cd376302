// Facts about subscribers (created, tagged, added to a list, entered a segment,
// sent an event) stop the runs whose stop condition they meet and start runs of
// the ACTIVE sequences whose trigger they fire, in the caller's transaction.
// Set-based: a batch of changes (one per subscriber change, in order) is applied
// with one query for the open runs they stop, one for the sequences they fire,
// and the bulk start of engine/start-run.ts.
import { stopReason, triggerFires, type Fact } from '../domain/triggers.js';
import type { Tx } from '../db/client.js';
import type { EnrollmentStatus, Sequence } from '../generated/prisma/client.js';
import { workspaceDefinitions, type WorkspaceDefinitions } from './definitions.js';
import type { EngineContext } from './context.js';
import { transitionRuns } from './lifecycle.js';
import { OPEN_STATUSES } from './run-status.js';
import { startRuns, type StartRunInput } from './start-run.js';

export interface FactContext {
  workspaceId: string;
  subscriberId: string;
  /** The event behind an `event` fact: its properties become the run's entry event. */
  event?: { id: string; name: string; properties: Record<string, unknown>; idempotencyKey: string | null; occurredAt: Date };
}

/** A sequence whose trigger matched but which started nothing (or only queued a run), and why. */
export interface EnrollmentSkip {
  sequenceId: string;
  code: string;
  reason: string;
}

export interface FactsApplied {
  /** Runs started (ACTIVE, QUEUED, or COMPLETED at once for a sequence without steps). */
  started: string[];
  skipped: EnrollmentSkip[];
}

const TRIGGERED_BY: Record<Fact['kind'], string[]> = {
  subscriber_created: ['CONTACT_ADDED'],
  list_added: ['CONTACT_ADDED'],
  list_removed: [],
  tag_added: ['TAG_ADDED'],
  tag_removed: [],
  segment_entered: ['SEGMENT_ENTERED'],
  event: ['EVENT_RECEIVED', 'FREQUENCY'],
};

/**
 * Applies the facts of several changes of one workspace, in order; one result per
 * change. `definitions`: the caller's, when it already read them in this transaction.
 */
export async function applyFactsBatch(
  ctx: EngineContext,
  tx: Tx,
  workspaceId: string,
  changes: (FactContext & { facts: Fact[] })[],
  definitions?: WorkspaceDefinitions,
): Promise<FactsApplied[]> {
  const results: FactsApplied[] = changes.map(() => ({ started: [], skipped: [] }));
  const live = changes.filter((c) => c.facts.length);
  if (!live.length) return results;
  const { active, anyStopCondition, firstSteps } = definitions ?? (await workspaceDefinitions(tx, workspaceId));
  if (anyStopCondition) await stopRuns(ctx, tx, live);
  const triggerTypes = new Set(live.flatMap((c) => c.facts.flatMap((f) => TRIGGERED_BY[f.kind])));
  const sequences = active.filter((s) => triggerTypes.has(s.triggerType));
  if (!sequences.length) return results;
  const counts = await frequencyCounts(tx, sequences, changes, ctx.clock.now());

  const starts: { change: number; input: StartRunInput }[] = [];
  changes.forEach((change, index) => {
    for (const sequence of sequences) {
      const count = sequence.triggerType === 'FREQUENCY' ? counts.get(`${sequence.id}:${index}`) : undefined;
      const fact = change.facts.find((f) => triggerFires(sequence, f, count));
      if (!fact) continue; // one run per sequence per change, however many of its facts fire
      const fromEvent = fact.kind === 'event' ? change.event : undefined;
      starts.push({
        change: index,
        input: {
          sequence,
          subscriberId: change.subscriberId,
          entryEvent: fromEvent?.properties ?? null,
          // Every run a tracked event's call starts (also CONTACT_ADDED or SEGMENT_ENTERED
          // ones) links to it, so a replay of its idempotency key returns all of them.
          entryEventId: change.event?.id ?? null,
          eventName: fromEvent?.name ?? null,
          idempotencyKey: fromEvent?.idempotencyKey ?? null,
        },
      });
    }
  });
  const outcomes = await startRuns(ctx, tx, starts.map((s) => s.input), firstSteps);
  // Each subscriber's changes by index, so that finding a later one is not a scan of the whole batch per run.
  const changesOf = new Map<string, number[]>();
  changes.forEach((c, index) => {
    const list = changesOf.get(c.subscriberId);
    if (list) list.push(index);
    else changesOf.set(c.subscriberId, [index]);
  });
  const stopLater: Stop[] = [];
  outcomes.forEach((outcome, i) => {
    const { change, input } = starts[i]!;
    const result = results[change]!;
    if (outcome.started) result.started.push(outcome.enrollmentId);
    if (outcome.code && outcome.reason) result.skipped.push({ sequenceId: input.sequence.id, code: outcome.code, reason: outcome.reason });
    // As if the changes came one by one: a later change of the batch may stop a run an earlier one started.
    if (!outcome.started || outcome.status === 'COMPLETED' || input.sequence.stopConditionType === 'NONE') return;
    const s = input.sequence;
    for (const index of changesOf.get(input.subscriberId)!) {
      if (index <= change) continue;
      const reason = stopReason(s.stopConditionType, s.stopConditionValue, changes[index]!.facts);
      if (!reason) continue;
      stopLater.push({
        run: { id: outcome.enrollmentId, workspaceId: s.workspaceId, sequenceId: s.id, subscriberId: input.subscriberId, status: outcome.status, throttleCapacity: s.throttleCapacity },
        reason,
      });
      break;
    }
  });
  await stopNow(ctx, tx, stopLater);
  return results;
}

interface Stop {
  run: { id: string; workspaceId: string; sequenceId: string; subscriberId: string; status: EnrollmentStatus; throttleCapacity: number | null };
  reason: string;
}

/**
 * FREQUENCY fires when the subscriber's count of the event within the window,
 * including this one, reaches minCount. Events of the batch are already written:
 * each change counts the earlier ones and the batch's own up to itself.
 */
async function frequencyCounts(tx: Tx, sequences: Sequence[], changes: FactContext[], at: Date): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const frequency = sequences.filter((s) => s.triggerType === 'FREQUENCY');
  const withEvents = changes.filter((c) => c.event);
  if (!frequency.length || !withEvents.length) return counts;
  const batchEventIds = withEvents.map((c) => c.event!.id);
  const subscriberIds = [...new Set(withEvents.map((c) => c.subscriberId))];
  for (const sequence of frequency) {
    const since = new Date(at.getTime() - (sequence.triggerTimeWindowDays ?? 0) * 86_400_000);
    const name = sequence.triggerEventName ?? '';
    const rows = await tx.$queryRaw<{ subscriberId: string; count: number }[]>`
      SELECT "subscriberId"::text AS "subscriberId", count(*)::int AS count FROM "Event"
      WHERE "subscriberId" = ANY(${subscriberIds}::uuid[]) AND name = ${name} AND "occurredAt" >= ${since}
        AND id <> ALL(${batchEventIds}::uuid[])
      GROUP BY "subscriberId"`;
    const running = new Map(rows.map((r) => [r.subscriberId, r.count]));
    changes.forEach((c, index) => {
      if (c.event && c.event.name === name && c.event.occurredAt >= since) running.set(c.subscriberId, (running.get(c.subscriberId) ?? 0) + 1);
      counts.set(`${sequence.id}:${index}`, running.get(c.subscriberId) ?? 0);
    });
  }
  return counts;
}

/** Open runs of these subscribers whose sequence's stop condition one of their facts meets become STOPPED. */
async function stopRuns(ctx: EngineContext, tx: Tx, changes: (FactContext & { facts: Fact[] })[]) {
  const factsOf = new Map<string, Fact[]>();
  for (const c of changes) factsOf.set(c.subscriberId, [...(factsOf.get(c.subscriberId) ?? []), ...c.facts]);
  // A subscriber created in this transaction has no runs yet (those this batch starts are stopped after).
  for (const [subscriberId, facts] of factsOf) if (facts.some((f) => f.kind === 'subscriber_created')) factsOf.delete(subscriberId);
  if (!factsOf.size) return;
  const open = await tx.$queryRaw<
    { id: string; workspaceId: string; sequenceId: string; subscriberId: string; status: EnrollmentStatus; type: string; value: string | null; throttleCapacity: number | null }[]
  >`
    SELECT e.id::text, e."workspaceId"::text AS "workspaceId", e."sequenceId"::text AS "sequenceId", e."subscriberId"::text AS "subscriberId",
      e.status::text AS status, s."stopConditionType"::text AS type, s."stopConditionValue" AS value, s."throttleCapacity" AS "throttleCapacity"
    FROM "Enrollment" e JOIN "Sequence" s ON s.id = e."sequenceId"
    WHERE e."subscriberId" = ANY(${[...factsOf.keys()]}::uuid[]) AND e.status::text = ANY(${OPEN_STATUSES as string[]})
      AND s."stopConditionType" <> 'NONE'`;
  if (!open.length) return;
  const stops: Stop[] = [];
  for (const run of open) {
    const reason = stopReason(run.type, run.value, factsOf.get(run.subscriberId)!);
    if (reason) stops.push({ run, reason });
  }
  await stopNow(ctx, tx, stops);
}

/** Runs become STOPPED (those still open), logged, and their throttled sequences told. */
async function stopNow(ctx: EngineContext, tx: Tx, stops: Stop[]) {
  if (!stops.length) return;
  const reasons = new Map(stops.map((s) => [s.run.id, s.reason]));
  // Under the runs' locks: a run that ended meanwhile is refused by the machine and left alone.
  await transitionRuns(ctx, tx, [...reasons.keys()], (run) => ({ kind: 'stop', reason: reasons.get(run.ref.id)! }));
}

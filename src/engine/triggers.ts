// Facts about a subscriber (created, tagged, added to a list, entered a segment,
// sent an event) stop the runs whose stop condition they meet and start runs of
// the ACTIVE sequences whose trigger they fire, in the caller's transaction.
import { now } from '../clock.js';
import { tryDecodeId } from '../domain/public-id.js';
import { describeFact, stopConditionMet, triggerFires, type Fact } from '../domain/triggers.js';
import type { Tx } from '../db/client.js';
import type { Sequence } from '../generated/prisma/client.js';
import { runEnded } from './release-queued.js';
import { OPEN_STATUSES, logRunChanges } from './run-status.js';
import { startRun } from './start-run.js';

export interface FactContext {
  workspaceId: string;
  subscriberId: string;
  /** The event behind an `event` fact: its properties become the run's entry event. */
  event?: { id: string; name: string; properties: Record<string, unknown>; idempotencyKey: string | null; occurredAt: Date };
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

/** Applies facts; returns the IDs of the runs they started. */
export async function applyFacts(tx: Tx, ctx: FactContext, facts: Fact[]): Promise<string[]> {
  if (!facts.length) return [];
  await stopRuns(tx, ctx, facts);
  const triggerTypes = [...new Set(facts.flatMap((f) => TRIGGERED_BY[f.kind]))];
  if (!triggerTypes.length) return [];
  const sequences = await tx.sequence.findMany({
    where: { workspaceId: ctx.workspaceId, status: 'ACTIVE', triggerType: { in: triggerTypes as never } },
    orderBy: { createdAt: 'asc' },
  });
  const started: string[] = [];
  for (const sequence of sequences) {
    for (const fact of facts) {
      const count = sequence.triggerType === 'FREQUENCY' && fact.kind === 'event' ? await eventCount(tx, ctx, sequence) : undefined;
      if (!triggerFires(sequence, fact, count)) continue;
      const fromEvent = fact.kind === 'event' ? ctx.event : undefined;
      const result = await startRun(tx, {
        sequence,
        subscriberId: ctx.subscriberId,
        entryEvent: fromEvent?.properties ?? null,
        // Every run a tracked event's call starts (also CONTACT_ADDED or SEGMENT_ENTERED
        // ones) links to it, so a replay of its idempotency key returns all of them.
        entryEventId: ctx.event?.id ?? null,
        eventName: fromEvent?.name ?? null,
        idempotencyKey: fromEvent?.idempotencyKey ?? null,
      });
      if (result.started) started.push(result.enrollmentId);
      break; // one run per sequence per change, however many of its facts fire
    }
  }
  return started;
}

async function eventCount(tx: Tx, ctx: FactContext, sequence: Sequence): Promise<number> {
  const since = new Date(now().getTime() - (sequence.triggerTimeWindowDays ?? 0) * 86_400_000);
  return tx.event.count({
    where: { subscriberId: ctx.subscriberId, name: sequence.triggerEventName ?? '', occurredAt: { gte: since } },
  });
}

/** Open runs of this subscriber whose sequence's stop condition one of the facts meets become STOPPED. */
async function stopRuns(tx: Tx, ctx: FactContext, facts: Fact[]) {
  const open = await tx.enrollment.findMany({
    where: { subscriberId: ctx.subscriberId, status: { in: OPEN_STATUSES }, sequence: { stopConditionType: { not: 'NONE' } } },
    include: { sequence: { select: { id: true, stopConditionType: true, stopConditionValue: true, throttleCapacity: true } } },
  });
  const at = now();
  for (const run of open) {
    const { stopConditionType: type, stopConditionValue: raw } = run.sequence;
    // List stop conditions name the list by its public ID.
    const value = type.endsWith('_LIST') && raw ? (tryDecodeId('List', raw) ?? raw) : raw;
    const fact = facts.find((f) => stopConditionMet(type, value, f));
    if (!fact) continue;
    const reason = `stop condition ${type}: ${describeFact(fact)}`;
    // Conditional update: a run that ended meanwhile is left alone.
    const { count } = await tx.enrollment.updateMany({
      where: { id: run.id, status: { in: OPEN_STATUSES } },
      data: { status: 'STOPPED', cancelledAt: at, cancelReason: reason, nextTriggerAt: null, pausedUntil: null },
    });
    if (!count) continue;
    await logRunChanges(tx, [{ ...run, previousStatus: run.status, status: 'STOPPED', reason, occurredAt: at }]);
    await runEnded(tx, run.sequence);
  }
}

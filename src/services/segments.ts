// Segment membership: evaluates definitions against subscribers' facts and keeps
// SegmentMembership in step. Entering (a new row) is what SEGMENT_ENTERED fires on.
import { matchesSegment, segmentDefinitionSchema, type SegmentDefinition, type SegmentFacts } from '../domain/segment.js';
import { tryDecodeId } from '../domain/public-id.js';
import { now } from '../clock.js';
import type { Tx } from '../db/client.js';

export interface SegmentRow {
  id: string;
  definition: unknown;
}

/** Event-count windows a definition asks about: name plus optional withinDays. */
function eventWindows(def: SegmentDefinition): { name: string; withinDays?: number }[] {
  const windows: { name: string; withinDays?: number }[] = [];
  const walk = (group: SegmentDefinition) => {
    for (const c of group.conditions) {
      if ('conditions' in c) walk(c);
      else if ('event' in c) windows.push({ name: c.event, withinDays: c.withinDays });
    }
  };
  walk(def);
  return windows;
}

async function loadFacts(tx: Tx, subscriberIds: string[], defs: SegmentDefinition[]): Promise<Map<string, SegmentFacts>> {
  const subscribers = await tx.subscriber.findMany({
    where: { id: { in: subscriberIds } },
    select: { id: true, email: true, attributes: true, tags: { select: { tag: { select: { name: true } } } }, lists: { select: { listId: true } } },
  });
  const windows = new Map(defs.flatMap(eventWindows).map((w) => [`${w.name}\u0000${w.withinDays ?? ''}`, w]));
  const at = now();
  // One grouped count per distinct window; segments name few events.
  const counts = new Map<string, number>();
  for (const [key, w] of windows) {
    const since = w.withinDays ? new Date(at.getTime() - w.withinDays * 86_400_000) : new Date(0);
    const rows = await tx.$queryRaw<{ subscriberId: string; count: number }[]>`
      SELECT "subscriberId"::text AS "subscriberId", count(*)::int AS count FROM "Event"
      WHERE "subscriberId" = ANY(${subscriberIds}::uuid[]) AND name = ${w.name} AND "occurredAt" >= ${since}
      GROUP BY "subscriberId"`;
    for (const row of rows) counts.set(`${row.subscriberId}\u0000${key}`, row.count);
  }
  return new Map(
    subscribers.map((s) => [
      s.id,
      {
        email: s.email,
        attributes: (s.attributes ?? {}) as Record<string, unknown>,
        tags: new Set(s.tags.map((t) => t.tag.name)),
        // Definitions name lists by public ID (lst_...); compare on row IDs.
        listIds: new Set(s.lists.map((l) => l.listId)),
        eventCounts: (name: string, withinDays?: number) => counts.get(`${s.id}\u0000${name}\u0000${withinDays ?? ''}`) ?? 0,
      },
    ]),
  );
}

/** Definitions as stored use public list IDs; evaluation compares row IDs. */
function toRowIds(def: SegmentDefinition): SegmentDefinition {
  return {
    ...def,
    conditions: def.conditions.map((c) =>
      'conditions' in c ? toRowIds(c) : 'list' in c ? { ...c, list: tryDecodeId('List', c.list) ?? c.list } : c,
    ),
  };
}

/**
 * Re-evaluates `segments` for `subscriberIds` and syncs memberships.
 * Returns the (segmentId, subscriberId) pairs that newly entered.
 */
export async function refreshSegmentMemberships(
  tx: Tx,
  segments: SegmentRow[],
  subscriberIds: string[],
): Promise<{ segmentId: string; subscriberId: string }[]> {
  if (!segments.length || !subscriberIds.length) return [];
  const defs = segments.map((s) => toRowIds(segmentDefinitionSchema.parse(s.definition)));
  const facts = await loadFacts(tx, subscriberIds, defs);
  const existing = await tx.segmentMembership.findMany({
    where: { segmentId: { in: segments.map((s) => s.id) }, subscriberId: { in: subscriberIds } },
    select: { segmentId: true, subscriberId: true },
  });
  const had = new Set(existing.map((m) => `${m.segmentId}:${m.subscriberId}`));
  const entered: { segmentId: string; subscriberId: string }[] = [];
  const left: { segmentId: string; subscriberId: string }[] = [];
  segments.forEach((segment, i) => {
    for (const subscriberId of subscriberIds) {
      const f = facts.get(subscriberId);
      if (!f) continue;
      const matches = matchesSegment(defs[i]!, f);
      const key = `${segment.id}:${subscriberId}`;
      if (matches && !had.has(key)) entered.push({ segmentId: segment.id, subscriberId });
      if (!matches && had.has(key)) left.push({ segmentId: segment.id, subscriberId });
    }
  });
  if (entered.length) await tx.segmentMembership.createMany({ data: entered, skipDuplicates: true });
  if (left.length) {
    await tx.segmentMembership.deleteMany({
      where: { OR: left.map((m) => ({ segmentId: m.segmentId, subscriberId: m.subscriberId })) },
    });
  }
  return entered;
}

// The SQL that segments compile to (src/services/segment-sql.ts) against the
// TypeScript reference (matchesSegment), on the same subscribers: every
// condition kind and op over awkward attribute values, and a batch evaluated in
// one statement.
import { describe, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { encodeId } from '../../src/domain/public-id.js';
import { matchesSegment, segmentDefinitionSchema, type SegmentFacts } from '../../src/domain/segment.js';
import { reevaluateSegments } from '../../src/services/segments.js';
import { useTestDatabase } from '../helpers/database.js';

const { prisma } = await useTestDatabase();
const { workspaceId } = await createWorkspaceWithKey(prisma, 'segment sql');
const list = await prisma.list.create({ data: { workspaceId, name: 'Customers' } });
const listId = encodeId('List', list.id);

const values: unknown[] = [
  'pro', 'PRO', 'Pro plan', '', ' 42 ', '42', '-1.5', '2e3', '1e999', '0x10', 'abc', '2024-06-01', 'é', '😀', 'ￚ',
  42, 0, -3.25, 1e21, true, false, null, [], ['tea', 'cake'], [42, 'x'], [[1]], { tier: 'pro' }, {},
];
const attributeSets: Record<string, unknown>[] = [
  {},
  ...values.map((v) => ({ v })),
  { plan: { tier: 'pro', seats: 5 }, items: [{ sku: 'a' }, { sku: 'b' }], '-1': 'neg' },
  { items: { '0': { sku: 'zero' } }, plan: 'free', nested: { '-1': 'key' } },
  { items: ['x', 'y'], nested: ['last'] },
];
const conditions: unknown[] = [
  ...values.flatMap((value) =>
    (['eq', 'neq', 'contains'] as const).map((op) => ({ attribute: 'v', op, value })),
  ),
  ...['42', 'pro', '2024', 'é', 'ￚ', 0, 41.5, 1e21, -2, 2000].flatMap((value) =>
    (['gt', 'gte', 'lt', 'lte'] as const).map((op) => ({ attribute: 'v', op, value })),
  ),
  { attribute: 'v', op: 'exists' },
  { attribute: 'v', op: 'not_exists' },
  { attribute: 'plan.tier', op: 'eq', value: 'pro' },
  { attribute: 'plan.seats', op: 'gte', value: 5 },
  { attribute: 'items.1.sku', op: 'eq', value: 'b' },
  { attribute: 'items.0.sku', op: 'eq', value: 'zero' },
  { attribute: 'items.1', op: 'eq', value: 'y' },
  { attribute: 'items.-1', op: 'exists' },
  { attribute: 'nested.-1', op: 'exists' },
  { attribute: '-1', op: 'eq', value: 'neg' },
  { attribute: 'items.99999999999999999999', op: 'exists' },
  { attribute: 'v.length', op: 'exists' },
  { attribute: 'email', op: 'contains', value: 'EXAMPLE' },
  { attribute: 'email', op: 'eq', value: 'sub3@example.com' },
  { tag: 'vip' },
  { tag: 'vip', op: 'not_has' },
  { list: listId },
  { list: listId, op: 'not_in' },
  { list: 'lst_nope', op: 'not_in' },
  { event: 'bought', op: 'count_gte', value: 2 },
  { event: 'bought', op: 'count_eq', value: 0 },
  { event: 'bought', op: 'count_lte', value: 1, withinDays: 7 },
  { event: 'bought', op: 'count_eq', value: 1, withinDays: 7 },
];

describe('segment SQL', () => {
  it('matches exactly the subscribers matchesSegment matches, for every condition, in one batch', async () => {
    const subscribers: { id: string; email: string; attributes: unknown }[] = [];
    for (const [i, attributes] of attributeSets.entries()) {
      const s = await prisma.subscriber.create({ data: { workspaceId, email: `sub${i}@example.com`, attributes: attributes as never } });
      subscribers.push(s);
    }
    const vip = await prisma.tag.create({ data: { workspaceId, name: 'vip' } });
    // Tags, lists and events on some subscribers, so every condition splits the set.
    const at = new Date();
    for (const [i, s] of subscribers.entries()) {
      if (i % 2) await prisma.subscriberTag.create({ data: { subscriberId: s.id, tagId: vip.id } });
      if (i % 3 === 0) await prisma.listMembership.create({ data: { subscriberId: s.id, listId: list.id } });
      for (let n = 0; n < i % 4; n++) {
        const occurredAt = new Date(at.getTime() - n * 5 * 86_400_000);
        await prisma.event.create({ data: { workspaceId, subscriberId: s.id, name: 'bought', occurredAt } });
      }
    }
    // Every condition alone, plus groups combining them.
    const definitions = [
      ...conditions.map((c) => ({ match: 'all', conditions: [c] })),
      { match: 'any', conditions: [{ tag: 'vip' }, { match: 'all', conditions: [{ list: listId }, { attribute: 'v', op: 'exists' }] }] },
      { match: 'all', conditions: [{ tag: 'vip', op: 'not_has' }, { match: 'any', conditions: [{ event: 'bought', op: 'count_gte', value: 1 }, { attribute: 'plan', op: 'eq', value: 'free' }] }] },
    ];
    const segments: { id: string }[] = [];
    for (const [i, definition] of definitions.entries()) {
      segments.push(await prisma.segment.create({ data: { workspaceId, name: `s${i}`, definition: segmentDefinitionSchema.parse(definition) as never } }));
    }

    const entered = await prisma.$transaction((tx) => reevaluateSegments(tx as never, workspaceId, subscribers.map((s) => s.id), new Date()));
    const got = new Set(entered.map((e) => `${e.segmentId}:${e.subscriberId}`));

    const expected = new Set<string>();
    for (const [i, s] of subscribers.entries()) {
      const facts: SegmentFacts = {
        email: s.email,
        attributes: s.attributes as Record<string, unknown>,
        tags: new Set(i % 2 ? ['vip'] : []),
        listIds: new Set(i % 3 === 0 ? [listId] : []),
        eventCounts: (_name, withinDays) => {
          const count = i % 4;
          return withinDays ? Math.min(count, 2) : count; // events 0, 5, 10 days ago: two within 7 days
        },
      };
      for (const [j, segment] of segments.entries()) {
        if (matchesSegment(segmentDefinitionSchema.parse(definitions[j]), facts)) expected.add(`${segment.id}:${s.id}`);
      }
    }
    // Compared per segment, so a failure names the definition that differs.
    for (const [j, segment] of segments.entries()) {
      const pick = (set: Set<string>) => [...set].filter((k) => k.startsWith(segment.id)).map((k) => subscribers.findIndex((s) => k.endsWith(s.id))).sort((a, b) => a - b);
      expect({ definition: definitions[j], members: pick(got) }).toEqual({ definition: definitions[j], members: pick(expected) });
    }
    expect(got.size).toBeGreaterThan(100);
    expect(await prisma.segmentMembership.count()).toBe(got.size);

    // Evaluated again with nothing changed: no one enters twice, no one leaves.
    const again = await prisma.$transaction((tx) => reevaluateSegments(tx as never, workspaceId, subscribers.map((s) => s.id), new Date()));
    expect(again).toEqual([]);
    expect(await prisma.segmentMembership.count()).toBe(got.size);

    // A subscriber who stops matching leaves: the tag removed, the tag segments swap.
    await prisma.subscriberTag.deleteMany({ where: { subscriberId: subscribers[1]!.id } });
    const swapped = await prisma.$transaction((tx) => reevaluateSegments(tx as never, workspaceId, [subscribers[1]!.id], new Date()));
    const notHas = segments[conditions.findIndex((c) => JSON.stringify(c) === '{"tag":"vip","op":"not_has"}')]!;
    const has = segments[conditions.findIndex((c) => JSON.stringify(c) === '{"tag":"vip"}')]!;
    expect(swapped.map((e) => e.segmentId)).toContain(notHas.id);
    expect(await prisma.segmentMembership.findUnique({ where: { segmentId_subscriberId: { segmentId: has.id, subscriberId: subscribers[1]!.id } } })).toBeNull();
  });
});

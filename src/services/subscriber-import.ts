// upsertSubscribers: a contact import of 1 to 1,000 subscribers in one
// transaction, each item upserted as upsertSubscriber would. Items addressed by
// email alone (the first of their email in the call) are written set-based: the
// lists of every item checked in one query, then new subscribers, updates of
// existing ones, tags and list memberships in a statement each, whatever the
// number of items. Items naming an externalId (matched first, may change the
// email) and later items repeating an email of the call then go one by one, in
// input order, each in its own savepoint. An item that fails (an unknown list,
// a taken email) leaves nothing behind and the others go on. Segments are then
// re-evaluated once for the whole batch, and the engine applies every item's
// facts (CONTACT_ADDED, TAG_ADDED, list and segment triggers) in input order.
import type { z } from 'zod';
import { notFound, UserError } from '../domain/errors.js';
import { tryDecodeId } from '../domain/public-id.js';
import { uuidv7 } from '../domain/tracking-links.js';
import type { Fact } from '../domain/triggers.js';
import type { Tx } from '../db/client.js';
import { transaction } from '../db/transaction.js';
import { applyFactsBatch } from '../engine/triggers.js';
import { workspaceDefinitions } from '../engine/definitions.js';
import { subscriberInputSchema, upsertSubscriberInTx } from './audience.js';
import { reevaluateSegments } from './segments.js';
import type { Actor, Caller } from '../auth/actor.js';
import { asUserErrors, parseInput } from './user-input.js';

export const MAX_SUBSCRIBERS = 1000;

export type UpsertOutcome = { ok: true; subscriberId: string } | { ok: false; errors: UserError[] };

interface Item {
  index: number;
  input: z.output<typeof subscriberInputSchema>;
  field: string[];
}

interface Change {
  index: number;
  subscriberId: string;
  facts: Fact[];
}

/** One outcome per item, in input order. */
export async function upsertSubscribers(actor: Caller, rawItems: unknown[]): Promise<UpsertOutcome[]> {
  if (rawItems.length < 1 || rawItems.length > MAX_SUBSCRIBERS) {
    throw new UserError(`Give between 1 and ${MAX_SUBSCRIBERS.toLocaleString('en-US')} subscribers`, ['input', 'subscribers'], 'VALIDATION');
  }
  const outcomes: (UpsertOutcome | undefined)[] = rawItems.map(() => undefined);
  const valid: Item[] = [];
  rawItems.forEach((raw, index) => {
    const field = ['input', 'subscribers', String(index)];
    try {
      valid.push({ index, input: parseInput(subscriberInputSchema, raw, field), field });
    } catch (error) {
      const errors = asUserErrors(error);
      if (!errors) throw error;
      outcomes[index] = { ok: false, errors };
    }
  });
  if (valid.length) {
    await transaction(
      actor.runtime,
      async (tx) => {
        const lists = await resolveLists(tx, actor, valid, (item, error) => (outcomes[item.index] = { ok: false, errors: [error] }));
        const listed = valid.filter((item) => lists.has(item.index));
        // An item by externalId may move its subscriber off an email: an item of that
        // email must then wait for it, as it would one by one.
        const seen = new Set(await emailsOfExternalIds(tx, actor, listed));
        const bulk: Item[] = [];
        const oneByOne: Item[] = [];
        for (const item of listed) {
          (item.input.externalId || seen.has(item.input.email) ? oneByOne : bulk).push(item);
          seen.add(item.input.email);
        }
        const changes = await upsertBulk(tx, actor, bulk, lists);
        for (const item of oneByOne) {
          await tx.$executeRaw`SAVEPOINT upsert_item`;
          try {
            const { id, facts } = await upsertSubscriberInTx(tx, actor, item.input, item.field);
            await tx.$executeRaw`RELEASE SAVEPOINT upsert_item`;
            changes.push({ index: item.index, subscriberId: id, facts });
          } catch (error) {
            const errors = asUserErrors(error);
            if (!errors) throw error;
            await tx.$executeRaw`ROLLBACK TO SAVEPOINT upsert_item`;
            outcomes[item.index] = { ok: false, errors };
          }
        }
        for (const c of changes) outcomes[c.index] = { ok: true, subscriberId: c.subscriberId };
        changes.sort((a, b) => a.index - b.index);
        // Segments once for the batch; what a subscriber entered counts with its last item.
        const subscriberIds = [...new Set(changes.map((c) => c.subscriberId))];
        const definitions = await workspaceDefinitions(tx, actor.workspaceId);
        const entered = await reevaluateSegments(tx, actor.workspaceId, subscriberIds, actor.runtime.clock.now(), definitions);
        const last = new Map(changes.map((c, n) => [c.subscriberId, n]));
        const withSegments = changes.map((c, n) => ({
          workspaceId: actor.workspaceId,
          subscriberId: c.subscriberId,
          facts:
            last.get(c.subscriberId) === n
              ? [...c.facts, ...entered.filter((e) => e.subscriberId === c.subscriberId).map((e) => ({ kind: 'segment_entered' as const, segmentId: e.segmentId }))]
              : c.facts,
        }));
        await applyFactsBatch(actor.runtime, tx, actor.workspaceId, withSegments, definitions);
      },
      { timeout: 120_000 },
    );
  }
  return outcomes.map((o) => o!);
}

/** The current emails of the subscribers the items name by externalId. */
async function emailsOfExternalIds(tx: Tx, actor: Actor, items: Item[]): Promise<string[]> {
  const externalIds = items.flatMap((i) => (i.input.externalId ? [i.input.externalId] : []));
  if (!externalIds.length) return [];
  const rows = await tx.subscriber.findMany({ where: { workspaceId: actor.workspaceId, externalId: { in: externalIds } }, select: { email: true } });
  return rows.map((r) => r.email);
}

/**
 * Every item's lists (public IDs) in one query: their row IDs by item index, for
 * the items whose lists all belong to the workspace; the others get NOT_FOUND at
 * the first that does not, as upsertSubscriber reports it.
 */
async function resolveLists(tx: Tx, actor: Actor, items: Item[], reject: (item: Item, error: UserError) => void): Promise<Map<number, string[]>> {
  const decoded = items.map((item) => (item.input.listIds ?? []).map((id) => tryDecodeId('List', id)));
  const wanted = [...new Set(decoded.flat().filter((u): u is string => u !== null))];
  const found = new Set(
    wanted.length
      ? (await tx.list.findMany({ where: { workspaceId: actor.workspaceId, id: { in: wanted } }, select: { id: true } })).map((l) => l.id)
      : [],
  );
  const lists = new Map<number, string[]>();
  items.forEach((item, n) => {
    const missing = decoded[n]!.findIndex((u) => u === null || !found.has(u));
    if (missing >= 0) reject(item, notFound('List', [...item.field, 'listIds', String(missing)]));
    else lists.set(item.index, decoded[n] as string[]);
  });
  return lists;
}

/**
 * Items of distinct emails and no externalId, in a few statements: new
 * subscribers inserted (in email order, so two imports sharing new emails cannot
 * deadlock), then the others, locked in email order, updated as upsertSubscriber
 * merges (a row another transaction inserted meanwhile is found here); then tags
 * and lists. Facts as upsertSubscriber's: created, each new tag, each new list.
 */
async function upsertBulk(tx: Tx, actor: Caller, items: Item[], lists: Map<number, string[]>): Promise<Change[]> {
  if (!items.length) return [];
  const ws = actor.workspaceId;
  const at = actor.runtime.clock.now();
  const sorted = [...items].sort((a, b) => (a.input.email < b.input.email ? -1 : 1));
  const emails = sorted.map((i) => i.input.email);
  const ids = sorted.map(() => uuidv7(Date.now())).sort();
  const first = sorted.map((i) => i.input.firstName ?? null);
  const last = sorted.map((i) => i.input.lastName ?? null);
  const attributes = sorted.map((i) => JSON.stringify(i.input.attributes ?? {}));
  const inserted = await tx.$queryRaw<{ id: string; email: string }[]>`
    INSERT INTO "Subscriber" (id, "workspaceId", email, "firstName", "lastName", attributes, "createdAt", "updatedAt")
    SELECT i.id, ${ws}::uuid, i.email, i.first, i.last, i.attributes, ${at}, ${at}
    FROM unnest(${ids}::uuid[], ${emails}::text[], ${first}::text[], ${last}::text[], ${attributes}::jsonb[]) WITH ORDINALITY
      AS i(id, email, first, last, attributes, n)
    ORDER BY i.n
    ON CONFLICT ("workspaceId", email) DO NOTHING
    RETURNING id::text, email`;
  const idOf = new Map(inserted.map((r) => [r.email, r.id]));
  const created = new Set(inserted.map((r) => r.id));
  const rest = sorted.filter((i) => !idOf.has(i.input.email));
  if (rest.length) {
    // An absent name keeps the stored one; null clears it.
    const updated = await tx.$queryRaw<{ id: string; email: string }[]>`
      WITH locked AS (
        SELECT s.id FROM "Subscriber" s WHERE s."workspaceId" = ${ws}::uuid AND s.email = ANY(${rest.map((i) => i.input.email)}::text[])
        ORDER BY s.email FOR UPDATE
      )
      UPDATE "Subscriber" s SET
        "firstName" = CASE WHEN i.keep_first THEN s."firstName" ELSE i.first END,
        "lastName" = CASE WHEN i.keep_last THEN s."lastName" ELSE i.last END,
        attributes = s.attributes || i.attributes,
        "updatedAt" = ${at}
      FROM locked, unnest(${rest.map((i) => i.input.email)}::text[], ${rest.map((i) => i.input.firstName ?? null)}::text[],
        ${rest.map((i) => i.input.firstName === undefined)}::boolean[], ${rest.map((i) => i.input.lastName ?? null)}::text[],
        ${rest.map((i) => i.input.lastName === undefined)}::boolean[], ${rest.map((i) => JSON.stringify(i.input.attributes ?? {}))}::jsonb[])
        AS i(email, first, keep_first, last, keep_last, attributes)
      WHERE s.id = locked.id AND s.email = i.email
      RETURNING s.id::text, s.email`;
    for (const row of updated) idOf.set(row.email, row.id);
  }
  const facts = new Map<string, Fact[]>(items.map((i) => [idOf.get(i.input.email)!, created.has(idOf.get(i.input.email)!) ? [{ kind: 'subscriber_created' }] : []]));

  // Tags: created when new (insert-or-nothing, then read: one a concurrent call is creating is waited for and reused), then attached.
  const tagPairs = items.flatMap((i) => [...new Set(i.input.tags ?? [])].map((name) => ({ subscriberId: idOf.get(i.input.email)!, name })));
  if (tagPairs.length) {
    const names = [...new Set(tagPairs.map((p) => p.name))].sort();
    await tx.$executeRaw`
      INSERT INTO "Tag" (id, "workspaceId", name)
      SELECT t.id, ${ws}::uuid, t.name FROM unnest(${names.map(() => uuidv7(Date.now())).sort()}::uuid[], ${names}::text[]) WITH ORDINALITY AS t(id, name, n)
      ORDER BY t.n
      ON CONFLICT ("workspaceId", name) DO NOTHING`;
    const added = await tx.$queryRaw<{ subscriberId: string; name: string }[]>`
      WITH pairs AS (
        SELECT p.subscriber, t.id AS tag, t.name FROM unnest(${tagPairs.map((p) => p.subscriberId)}::uuid[], ${tagPairs.map((p) => p.name)}::text[]) AS p(subscriber, name)
        JOIN "Tag" t ON t."workspaceId" = ${ws}::uuid AND t.name = p.name
      ), added AS (
        INSERT INTO "SubscriberTag" ("subscriberId", "tagId") SELECT subscriber, tag FROM pairs ORDER BY subscriber, tag
        ON CONFLICT DO NOTHING RETURNING "subscriberId", "tagId"
      )
      SELECT a."subscriberId"::text AS "subscriberId", p.name FROM added a JOIN pairs p ON p.subscriber = a."subscriberId" AND p.tag = a."tagId"`;
    const isNew = new Set(added.map((a) => `${a.subscriberId}\u0000${a.name}`));
    for (const p of tagPairs) if (isNew.has(`${p.subscriberId}\u0000${p.name}`)) facts.get(p.subscriberId)!.push({ kind: 'tag_added', tag: p.name });
  }

  const listPairs = items.flatMap((i) => [...new Set(lists.get(i.index)!)].map((listId) => ({ subscriberId: idOf.get(i.input.email)!, listId })));
  if (listPairs.length) {
    const joined = await tx.$queryRaw<{ subscriberId: string; listId: string }[]>`
      INSERT INTO "ListMembership" ("listId", "subscriberId")
      SELECT l, s FROM unnest(${listPairs.map((p) => p.listId)}::uuid[], ${listPairs.map((p) => p.subscriberId)}::uuid[]) AS m(l, s) ORDER BY l, s
      ON CONFLICT DO NOTHING RETURNING "subscriberId"::text AS "subscriberId", "listId"::text AS "listId"`;
    const isNew = new Set(joined.map((j) => `${j.subscriberId}\u0000${j.listId}`));
    for (const p of listPairs) if (isNew.has(`${p.subscriberId}\u0000${p.listId}`)) facts.get(p.subscriberId)!.push({ kind: 'list_added', listId: p.listId });
  }
  return items.map((i) => ({ index: i.index, subscriberId: idOf.get(i.input.email)!, facts: facts.get(idOf.get(i.input.email)!)! }));
}

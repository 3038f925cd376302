// Subscribers, tags, lists and segments. Every change is one transaction and
// re-evaluates the segments it can affect.
import { transaction } from '../db/transaction.js';
import { z } from 'zod';
import { boundedJson } from '../domain/json-limits.js';
import { emailSchema } from '../domain/email-address.js';
import { UserError } from '../domain/errors.js';
import { referencedLists, segmentDefinitionSchema } from '../domain/segment.js';
import type { Db, Tx } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { reevaluateSegments, syncMemberships } from './segments.js';
import type { Fact } from '../domain/triggers.js';
import { applyFactsBatch, type FactContext } from '../engine/triggers.js';
import { workspaceDefinitions } from '../engine/definitions.js';
import { advisoryLock } from '../engine/locks.js';
import { parseInput } from './user-input.js';
import type { Actor, Caller } from '../auth/actor.js';
import { owned, ownedMany } from '../db/scope.js';

const tagName = z.string().trim().min(1, { message: 'must not be empty' }).max(100);
const attributesSchema = boundedJson(z.record(z.string(), z.json(), { message: 'must be a JSON object' }));

export const externalIdSchema = z.string().trim().min(1, { message: 'must not be empty' }).max(255);

export const subscriberInputSchema = z.object({
  email: emailSchema,
  externalId: externalIdSchema.nullish(),
  firstName: z.string().trim().max(200).nullish(),
  lastName: z.string().trim().max(200).nullish(),
  attributes: attributesSchema.nullish(),
  tags: z.array(tagName).max(100).nullish(),
  listIds: z.array(z.string()).max(100).nullish(),
});

/** Finds the subscriber by externalId when given, else by email (case-insensitive), and updates it, or creates it. */
export async function upsertSubscriber(actor: Caller, rawInput: unknown): Promise<string> {
  const input = parseInput(subscriberInputSchema, rawInput, ['input']);
  return transaction(actor.runtime, async (tx) => {
    const { id, facts } = await upsertSubscriberInTx(tx, actor, input, ['input']);
    await changed(tx, actor, id, facts);
    return id;
  });
}

/** The upsert itself; returns what changed, for the caller to apply in its transaction. */
export async function upsertSubscriberInTx(
  tx: Tx,
  actor: Caller,
  input: z.output<typeof subscriberInputSchema>,
  field: string[],
): Promise<{ id: string; facts: Fact[] }> {
  const listIds = await ownedMany(tx, actor, 'List', input.listIds ?? [], [...field, 'listIds']);
  const externalId = input.externalId ?? null;
  const keep = (value: string | null | undefined, column: string) => (value === undefined ? Prisma.raw(`"${column}"`) : Prisma.sql`${value}`);
  const merge = (where: Prisma.Sql, email: string) => tx.$queryRaw<{ id: string; externalId: string | null }[]>`
    UPDATE "Subscriber" SET
      email = ${email},
      "externalId" = COALESCE("externalId", ${externalId}),
      "firstName" = ${keep(input.firstName, 'firstName')},
      "lastName" = ${keep(input.lastName, 'lastName')},
      attributes = attributes || ${JSON.stringify(input.attributes ?? {})}::jsonb,
      "updatedAt" = ${actor.runtime.clock.now()}
    WHERE "workspaceId" = ${actor.workspaceId}::uuid AND ${where}
    RETURNING id::text AS id, "externalId"`;
  if (externalId) {
    // The caller's id names the person: it matches first, and may change the email.
    await advisoryLock(tx, 'external-id', actor.workspaceId, externalId);
    const [own] = await tx.subscriber.findMany({ where: { workspaceId: actor.workspaceId, externalId }, select: { id: true, email: true } });
    if (own) {
      if (own.email !== input.email) {
        const taken = await tx.subscriber.findFirst({ where: { workspaceId: actor.workspaceId, email: input.email }, select: { id: true } });
        if (taken) throw new UserError(`Another subscriber has the email ${input.email}`, [...field, 'email'], 'EMAIL_TAKEN');
      }
      const [row] = await merge(Prisma.sql`id = ${own.id}::uuid`, input.email);
      return { id: row!.id, facts: await attachAll(tx, actor, row!.id, input.tags ?? [], listIds, []) };
    }
  }
  // Insert-or-nothing, then merge into the row: two calls creating the same new
  // email both succeed (the second waits for the first and updates its row), and
  // attributes merge key by key in the database, so concurrent partial updates
  // lose nothing.
  const [created] = await tx.subscriber.createManyAndReturn({
    data: [
      {
        workspaceId: actor.workspaceId,
        email: input.email,
        externalId,
        firstName: input.firstName ?? null,
        lastName: input.lastName ?? null,
        attributes: (input.attributes ?? {}) as Prisma.InputJsonObject,
        // Engine time: inactivity counts from joining, on the same clock as events.
        createdAt: actor.runtime.clock.now(),
      },
    ],
    skipDuplicates: true,
    select: { id: true },
  });
  let subscriber = created;
  if (!subscriber) {
    const [row] = await merge(Prisma.sql`email = ${input.email}`, input.email);
    if (!row) throw new Error(`subscriber ${input.email} neither inserted nor found`);
    if (externalId && row.externalId !== externalId) {
      throw new UserError(`${input.email} belongs to a subscriber with another externalId`, [...field, 'externalId'], 'EXTERNAL_ID_CONFLICT');
    }
    subscriber = row;
  }
  const facts: Fact[] = created ? [{ kind: 'subscriber_created' }] : [];
  return { id: subscriber.id, facts: await attachAll(tx, actor, subscriber.id, input.tags ?? [], listIds, facts) };
}

/** Adds tags and lists; returns `facts` with what was new. */
async function attachAll(tx: Tx, actor: Caller, subscriberId: string, tags: string[], listIds: string[], facts: Fact[]): Promise<Fact[]> {
  for (const name of tags) {
    if (await attachTag(tx, actor, subscriberId, name)) facts.push({ kind: 'tag_added', tag: name });
  }
  for (const listId of listIds) {
    if (await joinList(tx, listId, subscriberId)) facts.push({ kind: 'list_added', listId });
  }
  return facts;
}

export async function addTag(actor: Caller, subscriberId: string, rawTag: unknown): Promise<string> {
  const tag = parseInput(tagName, rawTag, ['tag']);
  return transaction(actor.runtime, async (tx) => {
    const { id } = await owned(tx, actor, 'Subscriber', subscriberId, { field: ['subscriberId'] });
    const added = await attachTag(tx, actor, id, tag);
    await changed(tx, actor, id, added ? [{ kind: 'tag_added', tag }] : []);
    return id;
  });
}

export async function removeTag(actor: Caller, subscriberId: string, rawTag: unknown): Promise<string> {
  const name = parseInput(tagName, rawTag, ['tag']);
  return transaction(actor.runtime, async (tx) => {
    const { id } = await owned(tx, actor, 'Subscriber', subscriberId, { field: ['subscriberId'] });
    const { count } = await tx.subscriberTag.deleteMany({ where: { subscriberId: id, tag: { workspaceId: actor.workspaceId, name } } });
    await changed(tx, actor, id, count ? [{ kind: 'tag_removed', tag: name }] : []);
    return id;
  });
}

/**
 * A list name is unique in its workspace and chosen by the user, so a taken name
 * is a NAME_TAKEN error rather than the existing list: the caller meant a new one.
 * Insert-or-nothing decides, so two racing creations give one list and one error.
 */
export async function createList(actor: Caller, rawName: unknown): Promise<string> {
  const name = parseInput(z.string().trim().min(1, { message: 'must not be empty' }).max(200), rawName, ['name']);
  const [list] = await actor.runtime.db.list.createManyAndReturn({
    data: [{ workspaceId: actor.workspaceId, name }],
    skipDuplicates: true,
    select: { id: true },
  });
  if (!list) throw new UserError(`A list named "${name}" already exists`, ['name'], 'NAME_TAKEN');
  return list.id;
}

export async function setListMembership(actor: Caller, subscriberId: string, listId: string, member: boolean) {
  return transaction(actor.runtime, async (tx) => {
    const { id } = await owned(tx, actor, 'Subscriber', subscriberId, { field: ['subscriberId'] });
    const { id: list } = await owned(tx, actor, 'List', listId, { field: ['listId'] });
    const facts: Fact[] = [];
    if (member) {
      if (await joinList(tx, list, id)) facts.push({ kind: 'list_added', listId: list });
    } else {
      const { count } = await tx.listMembership.deleteMany({ where: { listId: list, subscriberId: id } });
      if (count) facts.push({ kind: 'list_removed', listId: list });
    }
    await changed(tx, actor, id, facts);
    return id;
  });
}

export async function unsubscribe(actor: Caller, subscriberId: string): Promise<string> {
  return transaction(actor.runtime, async (tx) => {
    const { id } = await owned(tx, actor, 'Subscriber', subscriberId, { field: ['subscriberId'] });
    await tx.subscriber.updateMany({
      where: { id, status: 'ACTIVE' },
      data: { status: 'UNSUBSCRIBED', unsubscribedAt: actor.runtime.clock.now() },
    });
    return id;
  });
}

/** Segment names are unique per workspace, like list names: a taken name is NAME_TAKEN. */
export async function createSegment(actor: Caller, rawName: unknown, rawDefinition: unknown): Promise<string> {
  const name = parseInput(z.string().trim().min(1, { message: 'must not be empty' }).max(200), rawName, ['name']);
  const definition = parseInput(segmentDefinitionSchema, rawDefinition, ['definition']);
  return transaction(actor.runtime, async (tx) => {
      // Lists are named by public ID; one that is not a list of this workspace is a mistake, not an empty match.
      for (const listId of referencedLists(definition)) {
        await owned(tx, actor, 'List', listId, { field: ['definition'] }).catch((error: unknown) => {
          throw error instanceof UserError ? new UserError(`List ${listId} not found`, ['definition'], 'NOT_FOUND') : error;
        });
      }
      const [segment] = await tx.segment.createManyAndReturn({
        data: [{ workspaceId: actor.workspaceId, name, definition: definition as unknown as Prisma.InputJsonObject }],
        skipDuplicates: true,
        select: { id: true, definition: true },
      });
      if (!segment) throw new UserError(`A segment named "${name}" already exists`, ['name'], 'NAME_TAKEN');
      // Existing subscribers who already match are members from the start, in one
      // statement (entering a segment at its creation starts no runs: no sequence
      // can point at it yet).
      await syncMemberships(tx, actor.workspaceId, [segment], null, actor.runtime.clock.now());
      return segment.id;
    },
    { timeout: 60_000 },
  );
}

/**
 * After a subscriber changed: segments are re-evaluated, and the changes (plus
 * any segment entered) start and stop runs. Returns the runs started.
 */
export async function changed(tx: Tx, actor: Caller, subscriberId: string, facts: Fact[], event?: FactContext['event']) {
  const definitions = await workspaceDefinitions(tx, actor.workspaceId);
  const entered = await reevaluateSegments(tx, actor.workspaceId, [subscriberId], actor.runtime.clock.now(), definitions);
  const all: Fact[] = [...facts, ...entered.map((e) => ({ kind: 'segment_entered' as const, segmentId: e.segmentId }))];
  const [applied] = await applyFactsBatch(actor.runtime, tx, actor.workspaceId, [{ workspaceId: actor.workspaceId, subscriberId, event, facts: all }], definitions);
  return applied!;
}

/** True when the tag was not there before. */
async function attachTag(tx: Tx, actor: Caller, subscriberId: string, name: string): Promise<boolean> {
  // Insert-or-nothing, then read: a tag a concurrent call is creating is waited for and reused.
  await tx.tag.createMany({ data: [{ workspaceId: actor.workspaceId, name }], skipDuplicates: true });
  const tag = await tx.tag.findUniqueOrThrow({ where: { workspaceId_name: { workspaceId: actor.workspaceId, name } }, select: { id: true } });
  const { count } = await tx.subscriberTag.createMany({ data: [{ subscriberId, tagId: tag.id }], skipDuplicates: true });
  return count > 0;
}

/** True when the subscriber was not on the list before. */
async function joinList(tx: Tx, listId: string, subscriberId: string): Promise<boolean> {
  const { count } = await tx.listMembership.createMany({ data: [{ listId, subscriberId }], skipDuplicates: true });
  return count > 0;
}

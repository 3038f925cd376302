// Subscribers, tags, lists and segments. Every change is one transaction and
// re-evaluates the segments it can affect.
import { z } from 'zod';
import { emailSchema } from '../domain/email-address.js';
import { UserError, notFound } from '../domain/errors.js';
import { tryDecodeId, type IdType } from '../domain/public-id.js';
import { segmentDefinitionSchema } from '../domain/segment.js';
import { now } from '../clock.js';
import { db, type Tx } from '../db/client.js';
import type { Prisma } from '../generated/prisma/client.js';
import { refreshSegmentMemberships } from './segments.js';
import { parseInput } from './user-input.js';
import type { Actor } from './sequences.js';

const tagName = z.string().trim().min(1, { message: 'must not be empty' }).max(100);
const attributesSchema = z.record(z.string(), z.json(), { message: 'must be a JSON object' });

export const subscriberInputSchema = z.object({
  email: emailSchema,
  firstName: z.string().trim().max(200).nullish(),
  lastName: z.string().trim().max(200).nullish(),
  attributes: attributesSchema.nullish(),
  tags: z.array(tagName).max(100).nullish(),
  listIds: z.array(z.string()).max(100).nullish(),
});

/** Finds the subscriber by email (case-insensitive) and updates it, or creates it. */
export async function upsertSubscriber(actor: Actor, rawInput: unknown): Promise<string> {
  const input = parseInput(subscriberInputSchema, rawInput, ['input']);
  return db().$transaction(async (tx) => {
    const listIds = await requireOwnedIds(tx, actor, 'List', input.listIds ?? [], ['input', 'listIds']);
    const existing = await tx.subscriber.findUnique({
      where: { workspaceId_email: { workspaceId: actor.workspaceId, email: input.email } },
    });
    // Attributes merge key by key: a partial update does not wipe what it leaves out.
    const attributes = { ...((existing?.attributes as object | null) ?? {}), ...(input.attributes ?? {}) };
    const subscriber = await tx.subscriber.upsert({
      where: { workspaceId_email: { workspaceId: actor.workspaceId, email: input.email } },
      create: {
        workspaceId: actor.workspaceId,
        email: input.email,
        firstName: input.firstName ?? null,
        lastName: input.lastName ?? null,
        attributes: attributes as Prisma.InputJsonObject,
      },
      update: {
        firstName: input.firstName === undefined ? undefined : input.firstName,
        lastName: input.lastName === undefined ? undefined : input.lastName,
        attributes: attributes as Prisma.InputJsonObject,
      },
    });
    for (const name of input.tags ?? []) await attachTag(tx, actor, subscriber.id, name);
    if (listIds.length) {
      await tx.listMembership.createMany({
        data: listIds.map((listId) => ({ listId, subscriberId: subscriber.id })),
        skipDuplicates: true,
      });
    }
    await refreshSubscriberSegments(tx, actor, subscriber.id);
    return subscriber.id;
  });
}

export async function addTag(actor: Actor, subscriberId: string, rawTag: unknown): Promise<string> {
  const tag = parseInput(tagName, rawTag, ['tag']);
  return db().$transaction(async (tx) => {
    const id = await requireSubscriber(tx, actor, subscriberId);
    await attachTag(tx, actor, id, tag);
    await refreshSubscriberSegments(tx, actor, id);
    return id;
  });
}

export async function removeTag(actor: Actor, subscriberId: string, rawTag: unknown): Promise<string> {
  const name = parseInput(tagName, rawTag, ['tag']);
  return db().$transaction(async (tx) => {
    const id = await requireSubscriber(tx, actor, subscriberId);
    await tx.subscriberTag.deleteMany({ where: { subscriberId: id, tag: { workspaceId: actor.workspaceId, name } } });
    await refreshSubscriberSegments(tx, actor, id);
    return id;
  });
}

export async function createList(actor: Actor, rawName: unknown): Promise<string> {
  const name = parseInput(z.string().trim().min(1, { message: 'must not be empty' }).max(200), rawName, ['name']);
  const taken = await db().list.findUnique({ where: { workspaceId_name: { workspaceId: actor.workspaceId, name } } });
  if (taken) throw new UserError(`A list named "${name}" already exists`, ['name'], 'NAME_TAKEN');
  const list = await db().list.create({ data: { workspaceId: actor.workspaceId, name } });
  return list.id;
}

export async function setListMembership(actor: Actor, subscriberId: string, listId: string, member: boolean) {
  return db().$transaction(async (tx) => {
    const id = await requireSubscriber(tx, actor, subscriberId);
    const [list] = await requireOwnedIds(tx, actor, 'List', [listId], ['listId']);
    if (member) {
      await tx.listMembership.createMany({ data: [{ listId: list!, subscriberId: id }], skipDuplicates: true });
    } else {
      await tx.listMembership.deleteMany({ where: { listId: list!, subscriberId: id } });
    }
    await refreshSubscriberSegments(tx, actor, id);
    return id;
  });
}

export async function unsubscribe(actor: Actor, subscriberId: string): Promise<string> {
  return db().$transaction(async (tx) => {
    const id = await requireSubscriber(tx, actor, subscriberId);
    await tx.subscriber.updateMany({
      where: { id, status: 'ACTIVE' },
      data: { status: 'UNSUBSCRIBED', unsubscribedAt: now() },
    });
    return id;
  });
}

export async function createSegment(actor: Actor, rawName: unknown, rawDefinition: unknown): Promise<string> {
  const name = parseInput(z.string().trim().min(1, { message: 'must not be empty' }).max(200), rawName, ['name']);
  const definition = parseInput(segmentDefinitionSchema, rawDefinition, ['definition']);
  return db().$transaction(
    async (tx) => {
      const segment = await tx.segment.create({
        data: { workspaceId: actor.workspaceId, name, definition: definition as unknown as Prisma.InputJsonObject },
      });
      // Existing subscribers who already match are members from the start (entering
      // a segment at its creation starts no runs: no sequence can point at it yet).
      const batch = 1000;
      for (let cursor: string | undefined; ; ) {
        const page = await tx.subscriber.findMany({
          where: { workspaceId: actor.workspaceId, ...(cursor ? { id: { gt: cursor } } : {}) },
          select: { id: true },
          orderBy: { id: 'asc' },
          take: batch,
        });
        if (!page.length) break;
        await refreshSegmentMemberships(tx, [segment], page.map((s) => s.id));
        cursor = page.at(-1)!.id;
        if (page.length < batch) break;
      }
      return segment.id;
    },
    { timeout: 60_000 },
  );
}

async function refreshSubscriberSegments(tx: Tx, actor: Actor, subscriberId: string) {
  const segments = await tx.segment.findMany({
    where: { workspaceId: actor.workspaceId },
    select: { id: true, definition: true },
  });
  return refreshSegmentMemberships(tx, segments, [subscriberId]);
}

async function attachTag(tx: Tx, actor: Actor, subscriberId: string, name: string) {
  const tag = await tx.tag.upsert({
    where: { workspaceId_name: { workspaceId: actor.workspaceId, name } },
    create: { workspaceId: actor.workspaceId, name },
    update: {},
  });
  await tx.subscriberTag.createMany({ data: [{ subscriberId, tagId: tag.id }], skipDuplicates: true });
}

export async function requireSubscriber(tx: Tx, actor: Actor, publicId: string, field = ['subscriberId']) {
  const uuid = tryDecodeId('Subscriber', publicId);
  const found = uuid
    ? await tx.subscriber.findFirst({ where: { id: uuid, workspaceId: actor.workspaceId }, select: { id: true } })
    : null;
  if (!found) throw notFound('Subscriber', field);
  return found.id;
}

/** Row IDs of public IDs that must all name rows of this workspace. */
async function requireOwnedIds(tx: Tx, actor: Actor, type: Extract<IdType, 'List' | 'Segment'>, ids: string[], field: string[]) {
  const uuids = ids.map((id) => tryDecodeId(type, id));
  const valid = uuids.filter((u): u is string => u !== null);
  const where = { id: { in: valid }, workspaceId: actor.workspaceId };
  const found = new Set(
    (type === 'List'
      ? await tx.list.findMany({ where, select: { id: true } })
      : await tx.segment.findMany({ where, select: { id: true } })
    ).map((r) => r.id),
  );
  const missing = uuids.findIndex((u) => u === null || !found.has(u));
  if (missing >= 0) throw notFound(type, ids.length === 1 && field.at(-1) !== 'listIds' ? field : [...field, String(missing)]);
  return uuids as string[];
}

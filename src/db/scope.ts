// Tenant scope in one place: "this public ID names a row of the caller's
// workspace, else NOT_FOUND". Every service lookup and every GraphQL node goes
// through here, so a row of another workspace is never found by its ID, and a
// new model is one entry below.
import type { Actor } from '../auth/actor.js';
import { notFound } from '../domain/errors.js';
import { tryDecodeId } from '../domain/public-id.js';
import type { Enrollment, Event, List, Message, Segment, Sequence, Step, Subscriber } from '../generated/prisma/client.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Tx } from './client.js';

/** A transaction, or the client itself for a read outside one. */
type Db = Tx | PrismaClient;

interface Rows {
  Sequence: Sequence;
  Step: Step;
  Subscriber: Subscriber;
  Enrollment: Enrollment;
  Event: Event;
  List: List;
  Segment: Segment;
  Message: Message;
}
export type ScopedModel = keyof Rows;

/** The Prisma filter that keeps a model to one workspace (a step belongs to its sequence's). */
export function scopeWhere(model: ScopedModel, workspaceId: string): Record<string, unknown> {
  return model === 'Step' ? { sequence: { workspaceId } } : { workspaceId };
}

function delegate(tx: Db, model: ScopedModel): { findFirst(args: unknown): Promise<unknown>; findMany(args: unknown): Promise<{ id: string }[]> } {
  const key = (model[0]!.toLowerCase() + model.slice(1)) as Uncapitalize<ScopedModel>;
  return tx[key] as never;
}

export interface OwnedOptions {
  /** Where the ID was given, for the NOT_FOUND error. */
  field: string[];
  /** Row-lock it for the rest of the transaction (edits and status changes apply one after the other). */
  lock?: boolean;
}

/** The row of this workspace that `publicId` names, or a NOT_FOUND UserError at `field`. */
export async function owned<M extends ScopedModel>(tx: Db, actor: Actor, model: M, publicId: string, options: OwnedOptions): Promise<Rows[M]> {
  const uuid = tryDecodeId(model, publicId);
  if (!uuid) throw notFound(model, options.field);
  if (options.lock && model !== 'Step') {
    // Model names are the fixed keys above, never input.
    await tx.$executeRawUnsafe(`SELECT 1 FROM "${model}" WHERE id = $1::uuid AND "workspaceId" = $2::uuid FOR UPDATE`, uuid, actor.workspaceId);
  }
  const row = await delegate(tx, model).findFirst({ where: { id: uuid, ...scopeWhere(model, actor.workspaceId) } });
  if (!row) throw notFound(model, options.field);
  return row as Rows[M];
}

/** Row IDs of public IDs that must all name rows of this workspace; NOT_FOUND at `[...field, index]` for the first that does not. */
export async function ownedMany(tx: Db, actor: Actor, model: ScopedModel, publicIds: string[], field: string[]): Promise<string[]> {
  if (!publicIds.length) return [];
  const uuids = publicIds.map((id) => tryDecodeId(model, id));
  const valid = uuids.filter((u): u is string => u !== null);
  const rows = await delegate(tx, model).findMany({ where: { id: { in: valid }, ...scopeWhere(model, actor.workspaceId) }, select: { id: true } });
  const found = new Set(rows.map((r) => r.id));
  const missing = uuids.findIndex((u) => u === null || !found.has(u));
  if (missing >= 0) throw notFound(model, [...field, String(missing)]);
  return uuids as string[];
}

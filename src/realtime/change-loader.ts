// The fields of delivered changes, loaded once per process however many
// subscriptions receive them. Each subscription resolves a change with the
// Prisma query its selection needs (include/select from the GraphQL plugin); the
// first subscription to ask for a row loads it, and the rows read with it, in
// one query for that selection, and every other subscription with the same
// selection gets the same object. Entries live as long as the rows they belong to
// (a WeakMap on the feed's row objects), i.e. while the shared tail holds them.
import type { Db } from '../db/client.js';
import type { EnrollmentChange, Prisma } from '../generated/prisma/client.js';
import type { FeedRow } from './change-feed.js';

type Query = Omit<Prisma.EnrollmentChangeFindManyArgs, 'where'>;

const loaded = new WeakMap<FeedRow, Map<string, Promise<EnrollmentChange | undefined>>>();
/** Rows loaded at once: the row asked for and the ones read after it. */
const WINDOW = 200;

function shapesOf(row: FeedRow) {
  let shapes = loaded.get(row);
  if (!shapes) loaded.set(row, (shapes = new Map()));
  return shapes;
}

export async function loadChange(db: Db, query: Query, row: FeedRow): Promise<EnrollmentChange> {
  const shape = JSON.stringify(query);
  const hit = shapesOf(row).get(shape);
  if (hit) return found(await hit, row);
  // This subscription (and the others) will ask for the rows read after this one next.
  const start = Math.max(0, row.batch.indexOf(row));
  const window = row.batch.slice(start, start + WINDOW).filter((r) => r === row || !shapesOf(r).has(shape));
  const all = db
    .enrollmentChange.findMany({ ...query, where: { id: { in: window.map((r) => r.id) } } } as Prisma.EnrollmentChangeFindManyArgs)
    .then((list) => new Map(list.map((c) => [c.id, c])));
  for (const r of window) {
    const one = all.then((byId) => byId.get(r.id));
    one.catch(() => shapesOf(r).delete(shape));
    shapesOf(r).set(shape, one);
  }
  return found(await shapesOf(row).get(shape)!, row);
}

function found(change: EnrollmentChange | undefined, row: FeedRow): EnrollmentChange {
  // Only when the run (and with it its log) was deleted since the change was read.
  if (!change) throw new Error(`change ${row.id} no longer exists`);
  return change;
}

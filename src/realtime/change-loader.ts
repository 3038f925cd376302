// The fields of delivered changes, loaded once per process however many
// subscriptions receive them. The feed's rows hold every column of the change, so
// a selection of those alone is answered from the row with no query; otherwise
// each subscription resolves a change with the Prisma query its selection needs
// (include/select from the GraphQL plugin); the first subscription to ask for a
// row loads it, and the rows read with it, in one query for that selection, and
// every other subscription with the same selection gets the same object. Entries
// live as long as the rows they belong to (a WeakMap on the feed's row objects),
// i.e. while the shared tail holds them.
// A change's run (the change log has no foreign key to it, see schema.prisma) is
// loaded the same way: once per selection for the changes loaded together.
import type { Db } from '../db/client.js';
import type { Enrollment, EnrollmentChange, Prisma } from '../generated/prisma/client.js';
import type { FeedRow } from './change-feed.js';

type RunQuery = Omit<Prisma.EnrollmentFindManyArgs, 'where'>;
/** A Prisma query of changes that may also ask for each change's run, as a relation would (include or select `enrollment`). */
type Query = Omit<Prisma.EnrollmentChangeFindManyArgs, 'where' | 'include' | 'select'> & {
  include?: { enrollment?: boolean | RunQuery } | null;
  select?: (Prisma.EnrollmentChangeSelect & { enrollment?: boolean | RunQuery }) | null;
};

/**
 * Loads shared per object and query shape: one query loads a window of objects,
 * each of which gets its own promise; a failed load is forgotten so that the next
 * ask tries again.
 */
function sharedLoads<K extends object, Id, V>(idOf: (key: K) => Id) {
  const byKey = new WeakMap<K, Map<string, Promise<V | undefined>>>();
  const shapesOf = (key: K) => {
    let shapes = byKey.get(key);
    if (!shapes) byKey.set(key, (shapes = new Map()));
    return shapes;
  };
  return {
    get: (key: K, shape: string) => shapesOf(key).get(shape),
    has: (key: K, shape: string) => shapesOf(key).has(shape),
    share(window: K[], shape: string, load: Promise<Map<Id, V>>) {
      for (const key of window) {
        const one = load.then((byId) => byId.get(idOf(key)));
        one.catch(() => shapesOf(key).delete(shape));
        shapesOf(key).set(shape, one);
      }
    },
  };
}

const changes = sharedLoads<FeedRow, bigint, EnrollmentChange>((row) => row.id);
/** Rows loaded at once: the row asked for and the ones read after it. */
const WINDOW = 200;

export async function loadChange(db: Db, query: Query, row: FeedRow): Promise<EnrollmentChange> {
  // The feed read every column: a selection without the run (the usual `cursor status`) needs no query.
  if (!asksForRun(query)) return row;
  const shape = JSON.stringify(query);
  const hit = changes.get(row, shape);
  if (hit) return found(await hit, row);
  // This subscription (and the others) will ask for the rows read after this one next.
  const start = Math.max(0, row.batch.indexOf(row));
  const window = row.batch.slice(start, start + WINDOW).filter((r) => r === row || !changes.has(r, shape));
  const { changes: changeQuery, run } = splitRun(query);
  // By the primary key (workspaceId, xid, id): a feed reads one workspace, and a window's rows share few xids.
  const where = { workspaceId: row.workspaceId, xid: { in: [...new Set(window.map((r) => r.xid))] }, id: { in: window.map((r) => r.id) } };
  const all = db
    .enrollmentChange.findMany({ ...changeQuery, where } as Prisma.EnrollmentChangeFindManyArgs)
    .then(async (list) => {
      for (const c of list) loadedWith.set(c, list);
      if (run) {
        const byRun = await loadRuns(db, run, list);
        for (const c of list) (c as EnrollmentChange & { enrollment?: Enrollment }).enrollment = byRun.get(c.enrollmentId);
      }
      return new Map(list.map((c) => [c.id, c]));
    });
  changes.share(window, shape, all);
  return found(await changes.get(row, shape)!, row);
}

function asksForRun(query: Query): boolean {
  return Boolean(query.include?.enrollment || query.select?.enrollment);
}

/** The query of the changes themselves, and of their runs when it asks for `enrollment`. */
function splitRun(query: Query): { changes: Omit<Prisma.EnrollmentChangeFindManyArgs, 'where'>; run: RunQuery | null } {
  for (const mode of ['include', 'select'] as const) {
    const fields = query[mode];
    if (!fields?.enrollment) continue;
    const { enrollment, ...rest } = fields;
    const { include: _include, ...others } = query;
    const changes =
      mode === 'select' ? { ...query, select: { ...rest, enrollmentId: true } } : Object.keys(rest).length ? { ...others, include: rest } : others;
    return { changes, run: enrollment === true ? {} : enrollment };
  }
  return { changes: query as Omit<Prisma.EnrollmentChangeFindManyArgs, 'where'>, run: null };
}

function loadRuns(db: Db, query: RunQuery, changes: EnrollmentChange[]): Promise<Map<string, Enrollment>> {
  return db.enrollment
    .findMany({ ...query, where: { id: { in: [...new Set(changes.map((c) => c.enrollmentId))] } } } as Prisma.EnrollmentFindManyArgs)
    .then((list) => new Map(list.map((e) => [e.id, e])));
}

/** The changes loaded in one query with a change: their runs are loaded together too. */
const loadedWith = new WeakMap<EnrollmentChange, EnrollmentChange[]>();
const runs = sharedLoads<EnrollmentChange, string, Enrollment>((change) => change.enrollmentId);

/** The run a change belongs to, with the selection's query; the other changes loaded with it get theirs in the same query. */
export async function loadChangeRun(db: Db, query: RunQuery, change: EnrollmentChange): Promise<Enrollment> {
  const shape = JSON.stringify(query);
  const hit = runs.get(change, shape);
  if (hit) return foundRun(await hit, change);
  const window = (loadedWith.get(change) ?? [change]).filter((c) => c === change || !runs.has(c, shape));
  runs.share(window, shape, loadRuns(db, query, window));
  return foundRun(await runs.get(change, shape)!, change);
}

function foundRun(run: Enrollment | undefined, change: EnrollmentChange): Enrollment {
  // Only when the run was deleted since its change was read.
  if (!run) throw new Error(`run ${change.enrollmentId} no longer exists`);
  return run;
}

function found(change: EnrollmentChange | undefined, row: FeedRow): EnrollmentChange {
  // Only when the run (and with it its log) was deleted since the change was read.
  if (!change) throw new Error(`change ${row.id} no longer exists`);
  return change;
}

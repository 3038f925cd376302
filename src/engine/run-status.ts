// The change log of runs' statuses (lifecycle.ts writes the statuses). Each change is appended to it
// in the same transaction (the subscription feed replays from it) and
// announced with a tiny NOTIFY sent once the transaction has committed.
import type { Db, Tx } from '../db/client.js';
import { Prisma, type EnrollmentStatus } from '../generated/prisma/client.js';
import { notifyNow, notifyOnCommit, runBeforeCommit } from '../db/transaction.js';
import { changePayload } from '../domain/change-notification.js';

export const CHANGES_CHANNEL = 'stepwise_enrollment_changes';
export const OPEN_STATUSES: EnrollmentStatus[] = ['QUEUED', 'ACTIVE', 'PAUSED'];
/**
 * The open statuses as an SQL list of literals (fixed words, no user input): a
 * filter written with it lets the planner use the indexes kept only over open
 * runs, which values bound as text and cast to the enum (Prisma's way) do not
 * (test/engine/open-runs-index.test.ts).
 */
export const OPEN_SQL = Prisma.raw(`(${OPEN_STATUSES.map((s) => `'${s}'`).join(', ')})`);

const distinct = (workspaceIds: string | readonly string[]) => new Set(typeof workspaceIds === 'string' ? [workspaceIds] : workspaceIds);

/**
 * Wakes the change feeds and stats subscriptions of the workspaces, once the
 * transaction has committed: runs of any subscriber may have changed (a bulk write).
 */
export function notifyWorkspaces(tx: Tx, workspaceIds: string | readonly string[]): void {
  for (const workspaceId of distinct(workspaceIds)) notifyOnCommit(tx, CHANGES_CHANNEL, workspaceId);
}

/** Wakes the stats subscriptions of the workspaces once the transaction has committed: their figures changed, no run did. */
export function notifyStats(tx: Tx, workspaceIds: string | readonly string[]): void {
  for (const workspaceId of distinct(workspaceIds)) notifyOnCommit(tx, CHANGES_CHANNEL, changePayload(workspaceId, []));
}

/** The same, for a write that committed on its own (outside transaction()). */
export function notifyStatsNow(db: Db, workspaceIds: string | readonly string[]): void {
  for (const workspaceId of distinct(workspaceIds)) notifyNow(db, CHANGES_CHANNEL, changePayload(workspaceId, []));
}

/** Wakes the feeds following these changes' subscribers (and the stats subscriptions), once the transaction has committed. */
function notifyRunChanges(tx: Tx, changes: readonly Pick<RunChange, 'workspaceId' | 'subscriberId'>[]): void {
  const byWorkspace = new Map<string, string[]>();
  for (const c of changes) {
    const subscribers = byWorkspace.get(c.workspaceId);
    if (subscribers) subscribers.push(c.subscriberId);
    else byWorkspace.set(c.workspaceId, [c.subscriberId]);
  }
  for (const [workspaceId, subscribers] of byWorkspace) notifyOnCommit(tx, CHANGES_CHANNEL, changePayload(workspaceId, subscribers));
}

export interface RunChange {
  id: string;
  workspaceId: string;
  sequenceId: string;
  subscriberId: string;
  previousStatus: EnrollmentStatus | null;
  status: EnrollmentStatus;
  reason: string | null;
  occurredAt: Date;
}

const pending = new WeakMap<Tx, RunChange[]>();

/**
 * Appends changes (already applied to the runs) to the log, as the transaction's
 * last statement, and NOTIFYs listeners once it has committed (they re-read
 * the log). No lock that writers wait on: each row's order key `xid` is taken as
 * the log is written (stepwise_change_key(): at least this transaction's id and
 * the first id not completed then), and a reader stops below the oldest writer of
 * the log still in flight, so it never sees a row appear behind one it has read
 * (src/realtime/change-feed.ts). Call it only
 * for runs whose rows this transaction has written (updated or inserted): that
 * row lock is what keeps one run's changes in order (see flushRunChanges).
 */
export async function logRunChanges(tx: Tx, changes: RunChange[]): Promise<void> {
  if (!changes.length) return;
  const buffer = pending.get(tx) ?? [];
  pending.set(tx, buffer);
  for (const change of changes) buffer.push(change);
  runBeforeCommit(tx, flushRunChanges);
}

/** Changes logged in this transaction that are not written yet (they are, just before commit). */
export function unwrittenRunChanges(tx: Tx): readonly RunChange[] {
  return pending.get(tx) ?? [];
}

/**
 * The change-log INSERT for changes selected by SQL (`source` yields workspace,
 * enrollment, sequence, subscriber, previous, status, reason, at, and n, the
 * order to log them in), with the same order key as flushRunChanges: for a
 * set-based writer (a bulk cancel) whose 100,000 changes need not travel to the
 * process and back. As a data-modifying CTE it runs in the writer's own
 * statement, under the rows' locks. `bound` replaces the look-up of each run's
 * last key, for a writer whose statement snapshot predates its locks (it would
 * miss a change committed while it waited). `unordered`: a source of one change
 * per run, whose order among themselves says nothing, leaves out n and the sort.
 * A run's first change (no previous status: its start, in the transaction that
 * inserted it) has no earlier key to look up.
 */
export function changeLogInsert(source: Prisma.Sql, options: { bound?: Prisma.Sql; unordered?: boolean } = {}): Prisma.Sql {
  const earlier = options.bound ?? Prisma.sql`(SELECT max(p.xid) FROM "EnrollmentChange" p WHERE p."enrollmentId" = c.enrollment)`;
  return Prisma.sql`
    INSERT INTO "EnrollmentChange"
      (xid, "workspaceId", "enrollmentId", "sequenceId", "subscriberId", "previousStatus", status, reason, "occurredAt")
    SELECT CASE WHEN c.previous IS NULL THEN me.xid ELSE GREATEST(me.xid, ${earlier}) END,
           c.workspace, c.enrollment, c.sequence, c.subscriber,
           c.previous::"EnrollmentStatus", c.status::"EnrollmentStatus", c.reason, c.at
    -- An init plan: the key is taken once per statement, however the join is planned.
    FROM (SELECT (SELECT stepwise_change_key()) AS xid) me, (${source}) AS c
    ${options.unordered ? Prisma.empty : Prisma.sql`ORDER BY c.n`}`;
}

/**
 * Keys can still invert two changes of one run: T1 takes its key, T2 changes run
 * R and commits, then T1 changes R in the same statement (a data-modifying CTE
 * whose key was read before it waited for R's lock). Both held R's row lock, so
 * T1 wrote after T2 committed: the key is raised to at least the run's last key,
 * and the tie is broken by id, taken later. A key above the writer's own is still
 * safe for readers: while T1 is in flight the horizon is at most T1's id.
 */
async function flushRunChanges(tx: Tx): Promise<void> {
  const changes = pending.get(tx) ?? [];
  pending.delete(tx);
  if (!changes.length) return;
  // One statement however many changes (a bulk cancel writes 100,000).
  await tx.$executeRaw`${changeLogInsert(changesSource(changes))}`;
  notifyRunChanges(tx, changes);
}

/**
 * For a writer about to run its own statement: every change this transaction
 * logged so far plus `changes`, taken out of the buffer, as a change-log INSERT
 * (a data-modifying CTE; their NOTIFY follows the commit); null when none.
 * The same order key as flushRunChanges, in the same order: the writer's
 * statement holds its rows' locks as the flush would.
 */
export function takeRunChanges(tx: Tx, changes: RunChange[]): Prisma.Sql | null {
  const all = [...(pending.get(tx) ?? []), ...changes];
  pending.delete(tx);
  if (!all.length) return null;
  notifyRunChanges(tx, all);
  return changeLogInsert(changesSource(all));
}

/** Changes as the rows `changeLogInsert` selects from: arrays, unnested in order. */
function changesSource(changes: RunChange[]): Prisma.Sql {
  return Prisma.sql`
    SELECT * FROM unnest(
      ${changes.map((c) => c.workspaceId)}::uuid[], ${changes.map((c) => c.id)}::uuid[], ${changes.map((c) => c.sequenceId)}::uuid[],
      ${changes.map((c) => c.subscriberId)}::uuid[], ${changes.map((c) => c.previousStatus)}::text[], ${changes.map((c) => c.status)}::text[],
      ${changes.map((c) => c.reason)}::text[], ${changes.map((c) => c.occurredAt)}::timestamp(3)[]
    ) WITH ORDINALITY AS c(workspace, enrollment, sequence, subscriber, previous, status, reason, at, n)`;
}


// The one place a run's status changes. Each change is appended to the change
// log in the same transaction (the subscription feed replays from it) and
// announced with a tiny NOTIFY that is delivered only if the transaction commits.
import { now } from '../clock.js';
import type { Tx } from '../db/client.js';
import type { EnrollmentStatus, Prisma } from '../generated/prisma/client.js';
import { runBeforeCommit } from '../db/transaction.js';
import { advisoryLock } from './locks.js';

export const CHANGES_CHANNEL = 'stepwise_enrollment_changes';
export const OPEN_STATUSES: EnrollmentStatus[] = ['QUEUED', 'ACTIVE', 'PAUSED'];

export interface RunRef {
  id: string;
  workspaceId: string;
  sequenceId: string;
  subscriberId: string;
  status: EnrollmentStatus | null;
}

/** Timestamps that go with entering a status. */
function stampsFor(status: EnrollmentStatus, at: Date, reason: string | null): Prisma.EnrollmentUpdateInput {
  switch (status) {
    case 'COMPLETED':
      return { completedAt: at, nextTriggerAt: null, pausedUntil: null };
    case 'CANCELLED':
      return { cancelledAt: at, cancelReason: reason, nextTriggerAt: null, pausedUntil: null };
    case 'STOPPED':
      return { cancelledAt: at, cancelReason: reason, nextTriggerAt: null, pausedUntil: null };
    case 'FAILED':
      return { failedAt: at, error: reason, nextTriggerAt: null };
    case 'PAUSED':
      return { pausedAt: at };
    case 'ACTIVE':
      return { pausedAt: null, pausedUntil: null };
    default:
      return {};
  }
}

/**
 * Moves a run to `status` (with `extra` fields) and logs the change. `run.status`
 * is the status it had (null for a run being created, logged as a start).
 */
export async function setRunStatus(
  tx: Tx,
  run: RunRef,
  status: EnrollmentStatus,
  reason: string | null = null,
  extra: Prisma.EnrollmentUpdateInput = {},
): Promise<void> {
  const at = now();
  if (run.status !== null) {
    await tx.enrollment.update({ where: { id: run.id }, data: { status, ...stampsFor(status, at, reason), ...extra } });
  }
  await logRunChanges(tx, [{ ...run, previousStatus: run.status, status, reason, occurredAt: at }]);
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
 * Appends changes (already applied to the runs) to the log. They are written as
 * the transaction's last statements: per workspace, under a lock held until
 * commit, each gets the next `seq`, so seq order is commit order and a reader
 * never sees a smaller seq appear behind one it has already read. Listeners are
 * told after commit (NOTIFY is transactional) and re-read the log.
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

async function flushRunChanges(tx: Tx): Promise<void> {
  const changes = pending.get(tx) ?? [];
  pending.delete(tx);
  const byWorkspace = new Map<string, RunChange[]>();
  for (const c of changes) {
    const list = byWorkspace.get(c.workspaceId);
    if (list) list.push(c);
    else byWorkspace.set(c.workspaceId, [c]);
  }
  // A fixed lock order: two transactions touching the same workspaces cannot deadlock.
  for (const workspaceId of [...byWorkspace.keys()].sort()) {
    const batch = byWorkspace.get(workspaceId)!;
    await advisoryLock(tx, 'enrollment-changes', workspaceId);
    const [{ top }] = await tx.$queryRaw<[{ top: bigint }]>`
      SELECT COALESCE(max(seq), 0)::bigint AS top FROM "EnrollmentChange" WHERE "workspaceId" = ${workspaceId}::uuid`;
    // One statement however many changes (a bulk cancel writes 100,000): arrays, unnested in order.
    await tx.$executeRaw`
      INSERT INTO "EnrollmentChange"
        (seq, "workspaceId", "enrollmentId", "sequenceId", "subscriberId", "previousStatus", status, reason, "occurredAt")
      SELECT ${top} + c.n, ${workspaceId}::uuid, c.enrollment, c.sequence, c.subscriber,
             c.previous::"EnrollmentStatus", c.status::"EnrollmentStatus", c.reason, c.at
      FROM unnest(
        ${batch.map((c) => c.id)}::uuid[], ${batch.map((c) => c.sequenceId)}::uuid[], ${batch.map((c) => c.subscriberId)}::uuid[],
        ${batch.map((c) => c.previousStatus)}::text[], ${batch.map((c) => c.status)}::text[], ${batch.map((c) => c.reason)}::text[],
        ${batch.map((c) => c.occurredAt)}::timestamp(3)[]
      ) WITH ORDINALITY AS c(enrollment, sequence, subscriber, previous, status, reason, at, n)`;
    await tx.$executeRaw`SELECT pg_notify(${CHANGES_CHANNEL}, ${workspaceId})`;
  }
}

// The one place a run's status changes. Each change is appended to the change
// log in the same transaction (the subscription feed replays from it) and
// announced with a tiny NOTIFY that is delivered only if the transaction commits.
import { now } from '../clock.js';
import type { Tx } from '../db/client.js';
import type { EnrollmentStatus, Prisma } from '../generated/prisma/client.js';

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

/** Appends changes (already applied to the runs) to the log and notifies listeners after commit. */
export async function logRunChanges(tx: Tx, changes: RunChange[]): Promise<void> {
  if (!changes.length) return;
  await tx.enrollmentChange.createMany({
    data: changes.map((c) => ({
      workspaceId: c.workspaceId,
      enrollmentId: c.id,
      sequenceId: c.sequenceId,
      subscriberId: c.subscriberId,
      previousStatus: c.previousStatus,
      status: c.status,
      reason: c.reason,
      occurredAt: c.occurredAt,
    })),
  });
  const workspaces = [...new Set(changes.map((c) => c.workspaceId))];
  for (const workspaceId of workspaces) {
    await tx.$executeRaw`SELECT pg_notify(${CHANGES_CHANNEL}, ${workspaceId})`;
  }
}

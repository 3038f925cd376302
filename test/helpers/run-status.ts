// For tests of the change log alone: writes a run's status as given and logs the
// change, bypassing the run machine (src/domain/run-machine decides real
// transitions; lifecycle.ts applies them).
import type { Tx } from '../../src/db/client.js';
import type { EnrollmentStatus } from '../../src/generated/prisma/client.js';
import { logRunChanges } from '../../src/engine/run-status.js';

export async function setRunStatus(
  tx: Tx,
  run: { id: string; workspaceId: string; sequenceId: string; subscriberId: string; status: EnrollmentStatus },
  status: EnrollmentStatus,
  reason: string | null = null,
): Promise<void> {
  // The run's row is written in the same transaction, as the log's per-run order needs.
  await tx.enrollment.update({ where: { id: run.id }, data: { status } });
  await logRunChanges(tx, [{ ...run, previousStatus: run.status, status, reason, occurredAt: new Date() }]);
}

// Throttled runs wait as QUEUED; they start, oldest first, when capacity frees,
// when the day rolls over (a scheduled sweep), or when throttles are relaxed.
import { transaction } from '../db/transaction.js';
import { now } from '../clock.js';
import { db, type Tx } from '../db/client.js';
import type { Sequence } from '../generated/prisma/client.js';
import { enqueue } from './boss.js';
import { advisoryLock } from './locks.js';
import { QUEUES } from './queues.js';
import { setRunStatus } from './run-status.js';
import { hasRoomToStart, scheduleFirstStep } from './start-run.js';

/** Call when a run ends: a throttled sequence may now start a queued one. */
export async function runEnded(tx: Tx, sequence: Pick<Sequence, 'id' | 'throttleCapacity'>) {
  if (sequence.throttleCapacity != null) {
    await enqueue(tx, [{ name: QUEUES.releaseQueued, data: { sequenceId: sequence.id } }]);
  }
}

const BATCH = 500;

/** Starts queued runs of one sequence (or of every sequence that has some) while throttles allow. */
export async function releaseQueued(sequenceId?: string): Promise<number> {
  const sequenceIds = sequenceId
    ? [sequenceId]
    : (await db().enrollment.findMany({ where: { status: 'QUEUED' }, distinct: ['sequenceId'], select: { sequenceId: true } })).map(
        (r) => r.sequenceId,
      );
  let started = 0;
  for (const id of sequenceIds) {
    for (;;) {
      const count = await transaction((tx) => releaseBatch(tx, id), { timeout: 60_000 });
      started += count;
      if (count < BATCH) break;
    }
  }
  return started;
}

async function releaseBatch(tx: Tx, sequenceId: string): Promise<number> {
  await advisoryLock(tx, 'limits', sequenceId);
  const sequence = await tx.sequence.findUnique({ where: { id: sequenceId } });
  if (!sequence || sequence.status !== 'ACTIVE' || sequence.throttlePaused) return 0;
  const queued = await tx.enrollment.findMany({
    where: { sequenceId, status: 'QUEUED' },
    orderBy: { startedAt: 'asc' },
    take: BATCH,
  });
  let started = 0;
  for (const run of queued) {
    const at = now();
    if (!(await hasRoomToStart(tx, sequence, at))) break;
    await setRunStatus(tx, run, 'ACTIVE', 'released from throttle', { startedAt: at });
    await scheduleFirstStep(tx, { ...run, sequence }, at);
    started += 1;
  }
  return started;
}

// Waiting on the engine's queue through what anyone can observe in the database:
// pg-boss job states and the messages table. "Nothing was sent" is only asserted
// after one of these says the engine has looked.
import { BUSY_RETRY_MS } from '../../src/engine/step-worker.js';
import type { PrismaClient } from '../../src/generated/prisma/client.js';
import { waitFor, type WaitForOptions } from './wait-for.js';

/** Stepwise jobs due now (or put back for BUSY_RETRY_MS) or being worked, and emails claimed but not yet handed to the relay. */
export async function pendingWork(prisma: PrismaClient): Promise<{ jobs: number; queuedMessages: number }> {
  // A due step whose run another transaction held is put back BUSY_RETRY_MS (step-worker.ts):
  // it is part of the work due now, not a later step. Half a second beyond it: the put-back
  // is timed from the claim, a moment before this reads.
  const putBack = (BUSY_RETRY_MS + 500) / 1000;
  const [row] = await prisma.$queryRaw<{ jobs: number; queued: number }[]>`
    SELECT (SELECT count(*)::int FROM pgboss.job
              WHERE name LIKE 'stepwise.%' AND (state = 'active' OR (state = 'retry' AND start_after <= now())
                    OR (state = 'created' AND start_after <= now() + make_interval(secs => ${putBack}::float8)))) AS jobs,
            (SELECT count(*)::int FROM "Message" WHERE status = 'QUEUED') AS queued`;
  return { jobs: row!.jobs, queuedMessages: row!.queued };
}

/**
 * Waits until the workers are drained: no job of ours is due or active, and no
 * email is claimed but unsent. A job leaves those states only when a worker has
 * finished it (completed, or failed into a later retry), so afterwards whatever
 * the due work was going to do is visible.
 */
export async function drained(prisma: PrismaClient, options: WaitForOptions = {}): Promise<void> {
  let last = { jobs: -1, queuedMessages: -1 };
  await waitFor(
    async () => {
      last = await pendingWork(prisma);
      return last.jobs === 0 && last.queuedMessages === 0;
    },
    { interval: 100, ...options, message: options.message ?? (() => `workers drained (still ${last.jobs} due/active jobs, ${last.queuedMessages} queued emails)`) },
  );
}

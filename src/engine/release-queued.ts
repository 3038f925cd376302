// Throttled runs wait as QUEUED; they start, oldest first, when capacity frees,
// when the day rolls over (a scheduled sweep), or when throttles are relaxed.
import { transaction } from '../db/transaction.js';
import type { Tx } from '../db/client.js';
import { decide } from '../domain/run-machine/index.js';
import type { EngineContext } from './context.js';
import { apply, loadRunFacts, loadRuns, machineKey, type Applied } from './lifecycle.js';
import { advisoryLock } from './locks.js';
import { releasableNow } from './start-run.js';

const BATCH = 500;

/**
 * Starts queued runs of one sequence (or of every live sequence that has some:
 * test workspaces' day roll-overs come with their test clocks) while throttles allow.
 */
export async function releaseQueued(ctx: EngineContext, sequenceId?: string): Promise<number> {
  const sequenceIds = sequenceId
    ? [sequenceId]
    : (
        await ctx.db.enrollment.findMany({
          where: { status: 'QUEUED', sequence: { workspace: { liveWorkspaceId: null } } },
          distinct: ['sequenceId'],
          select: { sequenceId: true },
        })
      ).map(
        (r) => r.sequenceId,
      );
  let started = 0;
  for (const id of sequenceIds) {
    for (;;) {
      const count = await transaction(ctx, (tx) => releaseBatch(ctx, tx, id), { timeout: 60_000 });
      started += count;
      if (count < BATCH) break;
    }
  }
  return started;
}

async function releaseBatch(ctx: EngineContext, tx: Tx, sequenceId: string): Promise<number> {
  await advisoryLock(tx, 'limits', sequenceId);
  const sequence = await tx.sequence.findUnique({ where: { id: sequenceId } });
  if (!sequence || sequence.status !== 'ACTIVE') return 0;
  // The status as a literal: the (sequenceId, status) index holds open runs only (schema.prisma).
  const queued = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM "Enrollment" WHERE "sequenceId" = ${sequenceId}::uuid AND status = 'QUEUED' ORDER BY "startedAt" LIMIT ${BATCH}`;
  // Each run begins on the version it was queued on (a publish that kept runs may leave older ones).
  const { runs, sequences: machines } = await loadRuns(tx, queued.map((r) => r.id));
  const facts = await loadRunFacts(tx, [...runs.values()], machines);
  // The room is counted once: the runs begun here are the only starts (the advisory lock keeps others out).
  const at = ctx.clock.now();
  let room = await releasableNow(tx, sequence, at);
  const begun: Applied[] = [];
  for (const { id } of queued) {
    if (room <= 0) break;
    const run = runs.get(id);
    if (!run || run.state.status !== 'QUEUED') continue;
    begun.push({ ref: run.ref, decision: decide(run.state, machines.get(machineKey(run.ref))!, { kind: 'begin' }, at, facts.get(id)) });
    room -= 1;
  }
  await apply(ctx, tx, begun);
  return begun.length;
}

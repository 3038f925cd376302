// INACTIVITY triggers: a scheduled sweep finds subscribers with no (matching)
// event for `inactiveDays` and starts one run per inactivity stretch: a run
// started after their last activity means this stretch is already handled.
import type { Db } from '../db/client.js';
import { transaction } from '../db/transaction.js';
import { Prisma, type Sequence } from '../generated/prisma/client.js';
import type { EngineContext } from './context.js';
import { startRun } from './start-run.js';

const BATCH = 500;

type InactivitySequence = Pick<Sequence, 'id' | 'workspaceId' | 'triggerInactiveDays' | 'triggerEventName'>;

const inactiveMs = (sequence: InactivitySequence) => (sequence.triggerInactiveDays ?? 0) * 86_400_000;

/** Without an event name any event counts as activity; a subscriber with none is active since joining. */
function lastEventOf(sequence: InactivitySequence): Prisma.Sql {
  return sequence.triggerEventName === null
    ? Prisma.sql`sub."lastEventAt"`
    : Prisma.sql`(SELECT max(e."occurredAt") FROM "Event" e WHERE e."subscriberId" = sub.id AND e.name = ${sequence.triggerEventName})`;
}

/** Sweeps live workspaces, or one workspace (a test workspace's sweep comes with its test clock). */
export async function sweepInactivity(ctx: EngineContext, options: { workspaceId?: string } = {}): Promise<number> {
  const workspace = options.workspaceId ? { workspaceId: options.workspaceId } : { workspace: { liveWorkspaceId: null } };
  const sequences = await ctx.db.sequence.findMany({ where: { status: 'ACTIVE', triggerType: 'INACTIVITY', ...workspace } });
  let started = 0;
  for (const sequence of sequences) {
    const cutoff = new Date(ctx.clock.now().getTime() - inactiveMs(sequence));
    const lastEvent = lastEventOf(sequence);
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const inactive = await ctx.db.$queryRaw<{ id: string; lastActivity: Date }[]>`
        SELECT s.id::text AS id, s."lastActivity" FROM (
          SELECT sub.id, COALESCE(${lastEvent}, sub."createdAt") AS "lastActivity"
          FROM "Subscriber" sub
          WHERE sub."workspaceId" = ${sequence.workspaceId}::uuid AND sub.status = 'ACTIVE' AND sub.id > ${after}::uuid
        ) s
        WHERE s."lastActivity" < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM "Enrollment" en
                          WHERE en."sequenceId" = ${sequence.id}::uuid AND en."subscriberId" = s.id AND en."startedAt" >= s."lastActivity")
        ORDER BY s.id
        LIMIT ${BATCH}`;
      for (const subscriber of inactive) {
        const result = await transaction(ctx, (tx) =>
          startRun(ctx, tx, { sequence, subscriberId: subscriber.id, entryEvent: { inactiveSince: subscriber.lastActivity.toISOString() } }),
        );
        if (result.started) started += 1;
      }
      if (inactive.length < BATCH) break;
      after = inactive.at(-1)!.id;
    }
  }
  return started;
}

/**
 * When the next subscriber of the workspace becomes inactive for one of its
 * INACTIVITY sequences, later than `after` (a sweep then starts their run), or
 * null. A test clock's advance sweeps exactly then instead of every 15 minutes.
 */
export async function nextInactivityAt(db: Db, workspaceId: string, after: Date): Promise<Date | null> {
  const sequences = await db.sequence.findMany({ where: { workspaceId, status: 'ACTIVE', triggerType: 'INACTIVITY' } });
  let next: Date | null = null;
  for (const sequence of sequences) {
    const ms = inactiveMs(sequence);
    const [row] = await db.$queryRaw<{ last: Date | null }[]>`
      SELECT min(s."lastActivity") AS last FROM (
        SELECT sub.id, COALESCE(${lastEventOf(sequence)}, sub."createdAt") AS "lastActivity"
        FROM "Subscriber" sub WHERE sub."workspaceId" = ${workspaceId}::uuid AND sub.status = 'ACTIVE'
      ) s
      WHERE s."lastActivity" >= ${new Date(after.getTime() - ms)}
        AND NOT EXISTS (SELECT 1 FROM "Enrollment" en
                        WHERE en."sequenceId" = ${sequence.id}::uuid AND en."subscriberId" = s.id AND en."startedAt" >= s."lastActivity")`;
    // Inactive once the cutoff has passed the last activity: a millisecond after.
    const due = row?.last ? new Date(row.last.getTime() + ms + 1) : null;
    if (due && (!next || due < next)) next = due;
  }
  return next;
}

// INACTIVITY triggers: a scheduled sweep finds subscribers with no (matching)
// event for `inactiveDays` and starts one run per inactivity stretch: a run
// started after their last activity means this stretch is already handled.
import { transaction } from '../db/transaction.js';
import { now } from '../clock.js';
import { db } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { startRun } from './start-run.js';

const BATCH = 500;

export async function sweepInactivity(): Promise<number> {
  const sequences = await db().sequence.findMany({ where: { status: 'ACTIVE', triggerType: 'INACTIVITY' } });
  let started = 0;
  for (const sequence of sequences) {
    const cutoff = new Date(now().getTime() - (sequence.triggerInactiveDays ?? 0) * 86_400_000);
    // Without an event name any event counts as activity; a subscriber with none is active since joining.
    const lastEvent =
      sequence.triggerEventName === null
        ? Prisma.sql`sub."lastEventAt"`
        : Prisma.sql`(SELECT max(e."occurredAt") FROM "Event" e WHERE e."subscriberId" = sub.id AND e.name = ${sequence.triggerEventName})`;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const inactive = await db().$queryRaw<{ id: string; lastActivity: Date }[]>`
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
        const result = await transaction((tx) =>
          startRun(tx, { sequence, subscriberId: subscriber.id, entryEvent: { inactiveSince: subscriber.lastActivity.toISOString() } }),
        );
        if (result.started) started += 1;
      }
      if (inactive.length < BATCH) break;
      after = inactive.at(-1)!.id;
    }
  }
  return started;
}

// Sequence and step figures: sums of trigger-kept counters, one grouped query per
// batch of sequences or steps (the GraphQL layer batches them).
import { db } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';

export interface MessageCounts {
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  replied: number;
  positiveReplies: number;
  neutralReplies: number;
  negativeReplies: number;
  bounced: number;
  optedOut: number;
  failed: number;
}

export interface SequenceStats extends MessageCounts {
  enrolled: number;
  active: number;
  completed: number;
  cancelled: number;
  stopped: number;
}

const emptyMessageCounts = (): MessageCounts => ({
  sent: 0,
  delivered: 0,
  opened: 0,
  clicked: 0,
  replied: 0,
  positiveReplies: 0,
  neutralReplies: 0,
  negativeReplies: 0,
  bounced: 0,
  optedOut: 0,
  failed: 0,
});

// Counters kept by triggers on Message and Enrollment (migration *_stats_counters):
// each counts a message once however often it was opened or clicked, split into
// shards that are summed here, so the figures cost the same at a million messages
// as at ten (test/tracking/stats.test.ts checks them against a direct count).
const MESSAGE_COUNT_SUMS = Prisma.sql`
  sum(c.sent)::int AS sent, sum(c.delivered)::int AS delivered, sum(c.opened)::int AS opened,
  sum(c.clicked)::int AS clicked, sum(c.replied)::int AS replied, sum(c."positiveReplies")::int AS "positiveReplies",
  sum(c."neutralReplies")::int AS "neutralReplies", sum(c."negativeReplies")::int AS "negativeReplies",
  sum(c.bounced)::int AS bounced, sum(c."optedOut")::int AS "optedOut", sum(c.failed)::int AS failed`;

export async function loadStepStats(stepIds: readonly string[]): Promise<MessageCounts[]> {
  const rows = await db().$queryRaw<(MessageCounts & { key: string })[]>`
    SELECT c."stepId"::text AS key, ${MESSAGE_COUNT_SUMS}
    FROM "StepMessageCount" c WHERE c."stepId" = ANY(${stepIds as string[]}::uuid[])
    GROUP BY c."stepId"`;
  const byKey = new Map(rows.map(({ key, ...counts }) => [key, counts]));
  return stepIds.map((id) => byKey.get(id) ?? emptyMessageCounts());
}

export async function loadSequenceStats(sequenceIds: readonly string[]): Promise<SequenceStats[]> {
  const ids = sequenceIds as string[];
  const [messageRows, runRows] = await Promise.all([
    db().$queryRaw<(MessageCounts & { key: string })[]>`
      SELECT s."sequenceId"::text AS key, ${MESSAGE_COUNT_SUMS}
      FROM "StepMessageCount" c JOIN "Step" s ON s.id = c."stepId"
      WHERE s."sequenceId" = ANY(${ids}::uuid[])
      GROUP BY s."sequenceId"`,
    db().$queryRaw<{ key: string; status: string; count: number }[]>`
      SELECT "sequenceId"::text AS key, status::text, sum(count)::int AS count
      FROM "SequenceRunCount" WHERE "sequenceId" = ANY(${ids}::uuid[])
      GROUP BY "sequenceId", status`,
  ]);
  const messages = new Map(messageRows.map(({ key, ...counts }) => [key, counts]));
  return sequenceIds.map((id) => {
    const runs = runRows.filter((r) => r.key === id);
    const count = (status: string) => runs.find((r) => r.status === status)?.count ?? 0;
    return {
      ...(messages.get(id) ?? emptyMessageCounts()),
      enrolled: runs.reduce((sum, r) => sum + r.count, 0),
      active: count('ACTIVE'),
      completed: count('COMPLETED'),
      cancelled: count('CANCELLED'),
      stopped: count('STOPPED'),
    };
  });
}

/** Per sequence: active runs whose next step is an EMAIL (Outreach's scheduleCount). */
export async function loadScheduleCounts(sequenceIds: readonly string[]): Promise<number[]> {
  const rows = await db().$queryRaw<{ key: string; n: number }[]>`
    SELECT e."sequenceId"::text AS key, count(*)::int AS n
    FROM "Enrollment" e JOIN "Step" s ON s."sequenceId" = e."sequenceId" AND s.position = e."currentStepPosition"
    WHERE e."sequenceId" = ANY(${sequenceIds as string[]}::uuid[]) AND e.status = 'ACTIVE' AND s.type = 'EMAIL'
    GROUP BY e."sequenceId"`;
  const byKey = new Map(rows.map((r) => [r.key, r.n]));
  return sequenceIds.map((id) => byKey.get(id) ?? 0);
}

/** Per sequence: distinct subscribers emailed (`contacted`) or who replied (`replied`), not messages. */
export async function loadProspectCounts(sequenceIds: readonly string[], which: 'contacted' | 'replied'): Promise<number[]> {
  const column = which === 'contacted' ? Prisma.sql`m."sentAt"` : Prisma.sql`m."repliedAt"`;
  const rows = await db().$queryRaw<{ key: string; n: number }[]>`
    SELECT s."sequenceId"::text AS key, count(DISTINCT m."subscriberId")::int AS n
    FROM "Message" m JOIN "Step" s ON s.id = m."stepId"
    WHERE s."sequenceId" = ANY(${sequenceIds as string[]}::uuid[]) AND ${column} IS NOT NULL
    GROUP BY s."sequenceId"`;
  const byKey = new Map(rows.map((r) => [r.key, r.n]));
  return sequenceIds.map((id) => byKey.get(id) ?? 0);
}

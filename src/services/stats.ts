// Sequence and step figures: sums of trigger-kept counters, one grouped query per
// batch of sequences or steps (the GraphQL layer batches them).
import type { Db } from '../db/client.js';
import { dbQuery } from '../db/transaction.js';
import { Prisma } from '../generated/prisma/client.js';

// Sent on the client's pool around Prisma, planned once per connection: small reads
// asked for by every stats query and page count (Prisma's raw query machinery cost
// more CPU than the statements; a list of ids is one value, so the plan holds).
const PREPARED = { prepared: true } as const;

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

export async function loadStepStats(db: Db, stepIds: readonly string[]): Promise<MessageCounts[]> {
  const rows = await dbQuery<MessageCounts & { key: string }>(
    db,
    Prisma.sql`
    SELECT c."stepId"::text AS key, ${MESSAGE_COUNT_SUMS}
    FROM "StepMessageCount" c WHERE c."stepId" = ANY(${stepIds as string[]}::uuid[])
    GROUP BY c."stepId"`,
    PREPARED,
  );
  const byKey = new Map(rows.map(({ key, ...counts }) => [key, counts]));
  return stepIds.map((id) => byKey.get(id) ?? emptyMessageCounts());
}

export async function loadSequenceStats(db: Db, sequenceIds: readonly string[]): Promise<SequenceStats[]> {
  const ids = sequenceIds as string[];
  const [messageRows, runRows] = await Promise.all([
    dbQuery<MessageCounts & { key: string }>(
      db,
      Prisma.sql`
      SELECT s."sequenceId"::text AS key, ${MESSAGE_COUNT_SUMS}
      FROM "StepMessageCount" c JOIN "Step" s ON s.id = c."stepId"
      WHERE s."sequenceId" = ANY(${ids}::uuid[])
      GROUP BY s."sequenceId"`,
      PREPARED,
    ),
    runCountRows(db, ids),
  ]);
  return sequenceIds.map((id) => withRunCounts(messageRows, runRows, id));
}

/** The run counters of these sequences, summed per status. */
function runCountRows(db: Db, sequenceIds: string[]) {
  return dbQuery<{ key: string; status: string; count: number }>(
    db,
    Prisma.sql`
    SELECT "sequenceId"::text AS key, status::text, sum(count)::int AS count
    FROM "SequenceRunCount" WHERE "sequenceId" = ANY(${sequenceIds}::uuid[])
    GROUP BY "sequenceId", status`,
    PREPARED,
  );
}

/**
 * How many runs of each sequence are in the given statuses (all of them for null):
 * what a count(*) over its runs returns, from the same counters, so it costs the
 * same at a million runs as at ten.
 */
export async function loadRunCounts(
  db: Db,
  keys: readonly { sequenceId: string; statuses: readonly string[] | null }[],
): Promise<number[]> {
  const rows = await runCountRows(db, [...new Set(keys.map((k) => k.sequenceId))]);
  return keys.map((k) =>
    rows.filter((r) => r.key === k.sequenceId && (!k.statuses || k.statuses.includes(r.status))).reduce((sum, r) => sum + r.count, 0),
  );
}

/** One key's stats from grouped message counters and run counts. */
function withRunCounts(
  messageRows: readonly (MessageCounts & { key: string })[],
  runRows: readonly { key: string; status: string; count: number }[],
  key: string,
): SequenceStats {
  const row = messageRows.find((r) => r.key === key);
  const runs = runRows.filter((r) => r.key === key);
  const count = (status: string) => runs.find((r) => r.status === status)?.count ?? 0;
  const { key: _key, ...messages } = row ?? { key, ...emptyMessageCounts() };
  return {
    ...messages,
    enrolled: runs.reduce((sum, r) => sum + r.count, 0),
    active: count('ACTIVE'),
    completed: count('COMPLETED'),
    cancelled: count('CANCELLED'),
    stopped: count('STOPPED'),
  };
}

/**
 * Per sequence version (`sequenceId@number`): its steps' message counters, and
 * the runs on it now by status (counted directly: runs move between versions).
 */
export async function loadVersionStats(db: Db, keys: readonly string[]): Promise<SequenceStats[]> {
  const pairs = keys.map((k) => k.split('@') as [string, string]);
  const sequences = pairs.map(([s]) => s);
  const numbers = pairs.map(([, n]) => Number(n));
  const [messageRows, runRows] = await Promise.all([
    db.$queryRaw<(MessageCounts & { key: string })[]>`
      SELECT s."sequenceId"::text || '@' || s.version AS key, ${MESSAGE_COUNT_SUMS}
      FROM "StepMessageCount" c JOIN "Step" s ON s.id = c."stepId"
      JOIN unnest(${sequences}::uuid[], ${numbers}::int[]) AS k(sequence, version) ON s."sequenceId" = k.sequence AND s.version = k.version
      GROUP BY s."sequenceId", s.version`,
    db.$queryRaw<{ key: string; status: string; count: number }[]>`
      SELECT e."sequenceId"::text || '@' || e.version AS key, e.status::text, count(*)::int AS count
      FROM "Enrollment" e JOIN unnest(${sequences}::uuid[], ${numbers}::int[]) AS k(sequence, version) ON e."sequenceId" = k.sequence AND e.version = k.version
      GROUP BY e."sequenceId", e.version, e.status`,
  ]);
  return keys.map((key) => withRunCounts(messageRows, runRows, key));
}

/** Per sequence: active runs whose next step is an EMAIL (Outreach's scheduleCount). */
export async function loadScheduleCounts(db: Db, sequenceIds: readonly string[]): Promise<number[]> {
  const rows = await db.$queryRaw<{ key: string; n: number }[]>`
    SELECT e."sequenceId"::text AS key, count(*)::int AS n
    FROM "Enrollment" e JOIN "Step" s ON s."sequenceId" = e."sequenceId" AND s.version = e.version AND s."versionPosition" = e."currentStepPosition"
    WHERE e."sequenceId" = ANY(${sequenceIds as string[]}::uuid[]) AND e.status = 'ACTIVE' AND s.type = 'EMAIL'
    GROUP BY e."sequenceId"`;
  const byKey = new Map(rows.map((r) => [r.key, r.n]));
  return sequenceIds.map((id) => byKey.get(id) ?? 0);
}

/** Per sequence: distinct subscribers emailed (`contacted`) or who replied (`replied`), not messages. */
export async function loadProspectCounts(db: Db, sequenceIds: readonly string[], which: 'contacted' | 'replied'): Promise<number[]> {
  const column = which === 'contacted' ? Prisma.sql`m."sentAt"` : Prisma.sql`m."repliedAt"`;
  const rows = await db.$queryRaw<{ key: string; n: number }[]>`
    SELECT s."sequenceId"::text AS key, count(DISTINCT m."subscriberId")::int AS n
    FROM "Message" m JOIN "Step" s ON s.id = m."stepId"
    WHERE s."sequenceId" = ANY(${sequenceIds as string[]}::uuid[]) AND ${column} IS NOT NULL
    GROUP BY s."sequenceId"`;
  const byKey = new Map(rows.map((r) => [r.key, r.n]));
  return sequenceIds.map((id) => byKey.get(id) ?? 0);
}

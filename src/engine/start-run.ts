// Starting runs, set-based: the locks that keep concurrent starts apart are taken
// in one statement, the facts the START decision needs are loaded in bulk, the
// pure decision (domain/run-machine/start.ts) is asked for each request in order,
// and runs, first-step jobs and change-log rows are written in a few statements,
// in the caller's transaction.
import { delayToSeconds } from '../domain/delay.js';
import type { EnrollmentMode } from '../domain/enrollment-key.js';
import {
  dayStart,
  decideStart,
  emptyStartFacts,
  hasLimits,
  openKeyOf,
  recordStart,
  requestKey,
  releasable,
  type StartFacts,
  type StartSequence,
} from '../domain/run-machine/start.js';
import { sequenceRunDate, stepDueAt, type SendWindow } from '../domain/schedule.js';
import { uuidv7s } from '../domain/tracking-links.js';
import type { Tx } from '../db/client.js';
import { PREPARED_ROWS, txExecuteDeferred, txQuery } from '../db/transaction.js';
import { Prisma, type Sequence } from '../generated/prisma/client.js';
import { jobsInsert, type JobToSend } from './boss.js';
import type { EngineContext } from './context.js';
import { advisoryLocks } from './locks.js';
import { QUEUES } from './queues.js';
import { OPEN_STATUSES, takeRunChanges, unwrittenRunChanges, type RunChange } from './run-status.js';

export interface StartRunInput {
  sequence: Sequence;
  subscriberId: string;
  /** Properties of the event that started the run, snapshotted on it. */
  entryEvent?: Record<string, unknown> | null;
  entryEventId?: string | null;
  eventName?: string | null;
  idempotencyKey?: string | null;
}

export type StartRunResult =
  | { started: true; enrollmentId: string; status: 'ACTIVE' | 'QUEUED' | 'COMPLETED'; code?: string; reason?: string }
  | { started: false; reason: string; code: string; enrollmentId?: string };

export async function startRun(ctx: EngineContext, tx: Tx, input: StartRunInput): Promise<StartRunResult> {
  const [result] = await startRuns(ctx, tx, [input]);
  return result!;
}

const toStartSequence = (s: Sequence): StartSequence => ({ ...s, enrollmentMode: s.enrollmentMode as EnrollmentMode });

/**
 * Starts (or queues, or refuses) each input, in order; one result per input.
 * `firstSteps` of the sequences when the caller has them (engine/definitions.ts).
 */
export async function startRuns(ctx: EngineContext, tx: Tx, inputs: StartRunInput[], firstSteps?: Map<string, FirstStep>): Promise<StartRunResult[]> {
  if (!inputs.length) return [];
  const at = ctx.clock.now();
  const sequences = new Map(inputs.map((i) => [i.sequence.id, i.sequence]));
  // Once per sequence, not per request: a sequence row has some fifty fields to copy.
  const startSequences = new Map([...sequences].map(([id, s]) => [id, toStartSequence(s)]));
  const requests = inputs.map((input) => {
    const request = {
      subscriberId: input.subscriberId,
      eventName: input.eventName ?? null,
      properties: input.entryEvent ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
    };
    return { input, request, key: requestKey(startSequences.get(input.sequence.id)!, request) };
  });

  // Concurrent starts of the same (sequence, idempotency key), one-time (sequence,
  // subscriber), matching (sequence, subscriber, key) or limited sequence queue up here.
  const locks: string[][] = [];
  for (const { input, request, key } of requests) {
    const s = input.sequence;
    if (request.idempotencyKey) locks.push(['idempotency', s.id, request.idempotencyKey]);
    if (s.enrollmentMode === 'ONE_TIME') locks.push(['one-time', s.id, request.subscriberId]);
    if (key !== null) locks.push(['matching-field', s.id, request.subscriberId, key]);
    if (hasLimits(startSequences.get(s.id)!)) locks.push(['limits', s.id]);
  }
  await advisoryLocks(tx, locks);

  const facts = await loadStartFacts(tx, requests, [...sequences.values()], at);

  // Ids in input order sort like rows created one after the other (UUIDv7 of the wall clock, as Prisma's own).
  const candidateIds = uuidv7s(requests.length);
  // Decide in order: each start is seen by the requests after it.
  const decisions = requests.map(({ input, request }, i) => {
    const sequence = startSequences.get(input.sequence.id)!;
    const current = facts.get(sequence.id)!;
    const decision = decideStart(sequence, request, current);
    const id = decision.kind === 'start' ? candidateIds[i]! : null;
    if (id) facts.set(sequence.id, recordStart(current, request, decision, id));
    return { decision, id };
  });

  const activeSequences = [...new Set(requests.filter((_, i) => decisions[i]!.decision.kind === 'start').map((r) => r.input.sequence.id))];
  const versions = await liveVersions(tx, activeSequences);
  let stepsOf = firstSteps ?? (await loadFirstSteps(tx, activeSequences));
  // Cached before a publish committed: those first steps are the old version's.
  const stale = activeSequences.filter((id) => stepsOf.has(id) && stepsOf.get(id)!.version !== versions.get(id));
  if (stale.length) stepsOf = new Map([...stepsOf, ...(await loadFirstSteps(tx, stale))]);
  // DATE sequences read the run's date from the entry event, else the subscriber's attributes.
  const attributes = await loadAttributes(
    tx,
    requests.filter((r, i) => r.input.sequence.sequenceType === 'DATE' && decisions[i]!.decision.kind === 'start').map((r) => r.request.subscriberId),
  );

  const rows: EnrollmentRow[] = [];
  const jobs: JobToSend[] = [];
  const changes: RunChange[] = [];
  const results: StartRunResult[] = decisions.map(({ decision, id }, i) => {
    const { input, request } = requests[i]!;
    if (decision.kind === 'refuse') {
      return { started: false, code: decision.code, reason: decision.reason, ...(decision.enrollmentId ? { enrollmentId: decision.enrollmentId } : {}) };
    }
    const s = input.sequence;
    // Fields spelled out, not spread: an object spread costs about a microsecond, per run of a batch.
    const run = { id: id!, workspaceId: s.workspaceId, sequenceId: s.id, subscriberId: request.subscriberId };
    const row: EnrollmentRow = {
      id: run.id,
      workspaceId: run.workspaceId,
      sequenceId: run.sequenceId,
      subscriberId: run.subscriberId,
      status: decision.status,
      enrollmentKey: decision.enrollmentKey,
      idempotencyKey: request.idempotencyKey,
      entryEventId: input.entryEventId ?? null,
      entryEvent: input.entryEvent == null ? null : JSON.stringify(input.entryEvent),
      version: versions.get(s.id) ?? s.version,
      currentStepPosition: null,
      nextTriggerAt: null,
      completedAt: null,
    };
    rows.push(row);
    changes.push(runChange(run, null, decision.status, decision.status === 'QUEUED' ? 'throttled' : null, at));
    if (decision.status === 'QUEUED') return { started: true, enrollmentId: run.id, status: 'QUEUED', code: decision.code, reason: decision.reason };
    const first = stepsOf.get(s.id);
    if (!first) {
      row.status = 'COMPLETED';
      row.completedAt = at;
      changes.push(runChange(run, 'ACTIVE', 'COMPLETED', 'no steps', at));
      return { started: true, enrollmentId: run.id, status: 'COMPLETED' };
    }
    const date = sequenceRunDate(s, input.entryEvent ?? null, attributes.get(request.subscriberId) ?? null);
    const due = stepDueAt({ sequenceType: s.sequenceType, sendWindow: s.sendWindow as SendWindow | null }, first, at, date);
    row.currentStepPosition = first.position;
    row.nextTriggerAt = due;
    jobs.push({ name: QUEUES.step, data: { enrollmentId: run.id, stepId: first.id }, startAfter: due, workspaceId: s.workspaceId });
    return { started: true, enrollmentId: run.id, status: 'ACTIVE' };
  });

  if (rows.length) {
    await insertEnrollments(ctx, tx, rows, at, jobs, changes);
    // At most once a minute: this row lock would otherwise queue every start of the
    // sequence (and the loaded rows tell when no update is due, saving the statement).
    const minuteAgo = new Date(at.getTime() - 60_000);
    const stale = [...new Set(rows.map((r) => r.sequenceId))].filter((id) => {
      const used = sequences.get(id)!.lastUsedAt;
      return used === null || used < minuteAgo;
    });
    if (stale.length) {
      await tx.sequence.updateMany({
        where: { id: { in: stale }, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: minuteAgo } }] },
        data: { lastUsedAt: at },
      });
      // The caller's rows may be cached (engine/definitions.ts): they learn it too, so the next start skips the statement.
      for (const id of stale) sequences.get(id)!.lastUsedAt = at;
    }
  }
  return results;
}

const runChange = (
  run: { id: string; workspaceId: string; sequenceId: string; subscriberId: string },
  previousStatus: RunChange['previousStatus'],
  status: RunChange['status'],
  reason: string | null,
  occurredAt: Date,
): RunChange => ({ id: run.id, workspaceId: run.workspaceId, sequenceId: run.sequenceId, subscriberId: run.subscriberId, previousStatus, status, reason, occurredAt });

export type StartRequestOf = { input: StartRunInput; request: { subscriberId: string; idempotencyKey: string | null }; key: string | null };

/** The facts of every sequence the requests name, in at most four queries. */
export async function loadStartFacts(tx: Tx, requests: StartRequestOf[], sequences: Sequence[], at: Date): Promise<Map<string, StartFacts>> {
  const facts = new Map<string, StartFacts>(sequences.map((s) => [s.id, emptyStartFacts()]));
  const withKey = requests.filter((r) => r.request.idempotencyKey);
  if (withKey.length) {
    const rows = await txQuery<{ id: string; sequenceId: string; idempotencyKey: string }>(tx, Prisma.sql`
      SELECT e.id::text, e."sequenceId"::text AS "sequenceId", e."idempotencyKey"
      FROM "Enrollment" e JOIN unnest(${withKey.map((r) => r.input.sequence.id)}::uuid[], ${withKey.map((r) => r.request.idempotencyKey)}::text[]) AS k(s, key)
        ON e."sequenceId" = k.s AND e."idempotencyKey" = k.key`);
    for (const row of rows) facts.get(row.sequenceId)!.idempotent.set(row.idempotencyKey, row.id);
  }
  const oneTime = requests.filter((r) => r.input.sequence.enrollmentMode === 'ONE_TIME');
  if (oneTime.length) {
    const rows = await txQuery<{ sequenceId: string; subscriberId: string }>(tx, Prisma.sql`
      SELECT DISTINCT e."sequenceId"::text AS "sequenceId", e."subscriberId"::text AS "subscriberId"
      FROM "Enrollment" e JOIN unnest(${oneTime.map((r) => r.input.sequence.id)}::uuid[], ${oneTime.map((r) => r.request.subscriberId)}::uuid[]) AS k(s, sub)
        ON e."sequenceId" = k.s AND e."subscriberId" = k.sub`);
    for (const row of rows) facts.get(row.sequenceId)!.ranBefore.add(row.subscriberId);
  }
  const matching = requests.filter((r) => r.key !== null);
  if (matching.length) {
    const rows = await txQuery<{ id: string; sequenceId: string; subscriberId: string; enrollmentKey: string }>(tx, Prisma.sql`
      SELECT e.id::text, e."sequenceId"::text AS "sequenceId", e."subscriberId"::text AS "subscriberId", e."enrollmentKey"
      FROM "Enrollment" e
      JOIN unnest(${matching.map((r) => r.input.sequence.id)}::uuid[], ${matching.map((r) => r.request.subscriberId)}::uuid[], ${matching.map((r) => r.key)}::text[]) AS k(s, sub, key)
        ON e."sequenceId" = k.s AND e."subscriberId" = k.sub AND e."enrollmentKey" = k.key
      WHERE e.status::text = ANY(${OPEN_STATUSES as string[]})`);
    for (const row of rows) facts.get(row.sequenceId)!.openKeys.set(openKeyOf(row.subscriberId, row.enrollmentKey), row.id);
  }
  const limited = sequences.filter((s) => hasLimits(toStartSequence(s)));
  if (limited.length) {
    const ids = limited.map((s) => s.id);
    const since = dayStart(at);
    const rows = await txQuery<{ sequenceId: string; runs: number; inProgress: number; begunToday: number }>(tx, Prisma.sql`
      SELECT s.id::text AS "sequenceId",
        (SELECT count(*)::int FROM "Enrollment" e WHERE e."sequenceId" = s.id) AS runs,
        (SELECT count(*)::int FROM "Enrollment" e WHERE e."sequenceId" = s.id AND e.status IN ('ACTIVE', 'PAUSED')) AS "inProgress",
        (SELECT count(*)::int FROM "EnrollmentChange" c WHERE c."sequenceId" = s.id AND c.status = 'ACTIVE'
           AND (c."previousStatus" IS NULL OR c."previousStatus" = 'QUEUED') AND c."occurredAt" >= ${since}) AS "begunToday"
      FROM unnest(${ids}::uuid[]) AS s(id)`);
    for (const row of rows) {
      const f = facts.get(row.sequenceId)!;
      f.runs = row.runs;
      f.inProgress = row.inProgress;
      f.begunToday = row.begunToday + begunHere(tx, row.sequenceId, since);
    }
  }
  return facts;
}

/** Runs begun earlier in this transaction (a release batch) are logged only at commit. */
function begunHere(tx: Tx, sequenceId: string, since: Date): number {
  return unwrittenRunChanges(tx).filter(
    (c) => c.sequenceId === sequenceId && c.status === 'ACTIVE' && (c.previousStatus === null || c.previousStatus === 'QUEUED') && c.occurredAt >= since,
  ).length;
}

async function loadAttributes(tx: Tx, subscriberIds: string[]): Promise<Map<string, unknown>> {
  if (!subscriberIds.length) return new Map();
  const rows = await tx.subscriber.findMany({ where: { id: { in: [...new Set(subscriberIds)] } }, select: { id: true, attributes: true } });
  return new Map(rows.map((r) => [r.id, r.attributes]));
}

/**
 * The live version of each sequence, read under a key-share lock taken before
 * the first steps are read: a publish (which holds the sequence row) commits
 * either before it — these runs start on its version, with its first step — or
 * after these runs, which it then finds and moves. Versions read so earlier in
 * the transaction (keepLiveVersions) are not read again: the lock holds them.
 */
async function liveVersions(tx: Tx, sequenceIds: string[]): Promise<Map<string, number>> {
  if (!sequenceIds.length) return new Map();
  const missing = sequenceIds.filter((id) => !lockedVersions.get(tx)?.has(id));
  if (missing.length) keepLiveVersions(tx, await txQuery<{ id: string; version: number }>(tx, liveVersionsSql(missing), { prepared: true }));
  const known = lockedVersions.get(tx)!;
  return new Map(sequenceIds.filter((id) => known.has(id)).map((id) => [id, known.get(id)!]));
}

const lockedVersions = new WeakMap<Tx, Map<string, number>>();

/** Locks the sequences (key share) and reads their live version: a writer may run it as a CTE of its own statement. */
export const liveVersionsSql = (sequenceIds: string[]) =>
  Prisma.sql`SELECT id::text, version FROM "Sequence" WHERE id = ANY(${sequenceIds}::uuid[]) ORDER BY id FOR KEY SHARE`;

/** Versions `liveVersionsSql` read in this transaction, so that starting runs does not read them again. */
export function keepLiveVersions(tx: Tx, rows: { id: string; version: number }[]): void {
  const known = lockedVersions.get(tx) ?? new Map<string, number>();
  for (const row of rows) known.set(row.id, row.version);
  lockedVersions.set(tx, known);
}

export interface FirstStep {
  id: string;
  /** The sequence version it belongs to (the live one when read). */
  version: number;
  position: number;
  delaySeconds: number;
  dateOffsetMinutes: number | null;
}

export async function loadFirstSteps(tx: Tx, sequenceIds: string[]): Promise<Map<string, FirstStep>> {
  if (!sequenceIds.length) return new Map();
  const rows = await txQuery<
    { id: string; sequenceId: string; version: number; position: number; delayDays: number; delayHours: number; delayMinutes: number; dateOffsetMinutes: number | null }
  >(
    tx,
    Prisma.sql`
    SELECT DISTINCT ON ("sequenceId") id::text, "sequenceId"::text AS "sequenceId", version, position, "delayDays", "delayHours", "delayMinutes", "dateOffsetMinutes"
    FROM "Step" WHERE "sequenceId" = ANY(${sequenceIds}::uuid[]) AND position IS NOT NULL
    ORDER BY "sequenceId", position`,
  );
  return new Map(
    rows.map((r) => [
      r.sequenceId,
      {
        id: r.id,
        version: r.version,
        position: r.position,
        delaySeconds: delayToSeconds({ days: r.delayDays, hours: r.delayHours, minutes: r.delayMinutes }),
        dateOffsetMinutes: r.dateOffsetMinutes,
      },
    ]),
  );
}

interface EnrollmentRow {
  id: string;
  workspaceId: string;
  sequenceId: string;
  subscriberId: string;
  status: 'ACTIVE' | 'QUEUED' | 'COMPLETED';
  enrollmentKey: string | null;
  idempotencyKey: string | null;
  entryEventId: string | null;
  /** JSON text. */
  entryEvent: string | null;
  version: number;
  currentStepPosition: number | null;
  nextTriggerAt: Date | null;
  completedAt: Date | null;
}

/**
 * One statement for every run, however many (arrays, unnested in order): their
 * INSERT, their first jobs, and the change log (theirs and what this transaction
 * logged before). Timestamps are engine time (a test clock's, in a test workspace).
 */
async function insertEnrollments(ctx: EngineContext, tx: Tx, rows: EnrollmentRow[], at: Date, jobs: JobToSend[], changes: RunChange[]): Promise<void> {
  const col = <K extends keyof EnrollmentRow>(k: K) => rows.map((r) => r[k]);
  const insertJobs = await jobsInsert(ctx, tx, jobs);
  const logInsert = takeRunChanges(tx, changes)!;
  // Nothing below reads its answer: in a lean transaction it goes with the COMMIT (or the next statement), one round trip fewer.
  await txExecuteDeferred(tx, Prisma.sql`
    WITH ${insertJobs ? Prisma.sql`jobs AS (${insertJobs}),` : Prisma.empty} logged AS (${logInsert} RETURNING 1), runs AS (
    INSERT INTO "Enrollment" (id, "workspaceId", "sequenceId", "subscriberId", status, "enrollmentKey", "idempotencyKey",
      "entryEventId", "entryEvent", version, "currentStepPosition", "nextTriggerAt", "completedAt", "startedAt", "createdAt", "updatedAt")
    SELECT r.id, r.workspace, r.sequence, r.subscriber, r.status::"EnrollmentStatus", r.key, r.idem, r.entry_id, r.entry,
      r.version, r.position, r.next, r.completed, ${at}, ${at}, ${at}
    FROM unnest(${col('id')}::uuid[], ${col('workspaceId')}::uuid[], ${col('sequenceId')}::uuid[], ${col('subscriberId')}::uuid[],
      ${col('status')}::text[], ${col('enrollmentKey')}::text[], ${col('idempotencyKey')}::text[], ${col('entryEventId')}::uuid[],
      ${col('entryEvent')}::jsonb[], ${col('version')}::int[], ${col('currentStepPosition')}::int[], ${col('nextTriggerAt')}::timestamp(3)[], ${col('completedAt')}::timestamp(3)[])
      AS r(id, workspace, sequence, subscriber, status, key, idem, entry_id, entry, version, position, next, completed)
    RETURNING 1
    ) SELECT 1`,
    { prepared: rows.length <= PREPARED_ROWS },
  );
}

/**
 * How many queued runs of the sequence may start now (domain `releasable`): the
 * capacity counts runs in progress, the daily limit runs begun since midnight UTC.
 */
export async function releasableNow(tx: Tx, sequence: Sequence, at: Date): Promise<number> {
  const s = toStartSequence(sequence);
  if (s.throttlePaused || (s.throttleCapacity == null && s.throttleMaxAddsPerDay == null)) return releasable(s, { inProgress: 0, begunToday: 0 });
  const since = dayStart(at);
  const [row] = await tx.$queryRaw<{ inProgress: number; begunToday: number }[]>`
    SELECT
      (SELECT count(*)::int FROM "Enrollment" e WHERE e."sequenceId" = ${sequence.id}::uuid AND e.status IN ('ACTIVE', 'PAUSED')) AS "inProgress",
      (SELECT count(*)::int FROM "EnrollmentChange" c WHERE c."sequenceId" = ${sequence.id}::uuid AND c.status = 'ACTIVE'
         AND (c."previousStatus" IS NULL OR c."previousStatus" = 'QUEUED') AND c."occurredAt" >= ${since}) AS "begunToday"`;
  return releasable(s, { inProgress: row!.inProgress, begunToday: row!.begunToday + begunHere(tx, sequence.id, since) });
}

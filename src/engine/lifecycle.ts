// Applies the run machine's decisions (src/domain/run-machine) in bulk: the runs'
// new columns in one UPDATE, their changes to the change log, the jobs they need
// (next steps, reply-pause timers) in one insert, and a release of queued runs
// where a throttled sequence's run ended. The one module that writes a run's
// lifecycle; callers lock and load runs here, decide, and apply.
import {
  decide,
  uniformTransition,
  type Decision,
  type MachineSequence,
  type RunFacts,
  type RunInput,
  type RunState,
  type RunStatus,
} from '../domain/run-machine/index.js';
import { toMachineSequence, type SequenceSettingsRow, type StepTimingRow } from '../domain/run-machine/from-rows.js';
import type { VersionedSequence } from '../domain/run-machine/publish.js';
import { sequenceRunDate } from '../domain/schedule.js';
import type { Tx } from '../db/client.js';
import { PREPARED_ROWS, transaction, txExecuteDeferred, txQuery } from '../db/transaction.js';
import { Prisma } from '../generated/prisma/client.js';
import { completeJobsSql, enqueue, jobsInsert, type JobToSend } from './boss.js';
import type { EngineContext } from './context.js';
import { QUEUES } from './queues.js';
import { OPEN_SQL as OPEN, OPEN_STATUSES, changeLogInsert, notifyStats, notifyWorkspaces, takeRunChanges } from './run-status.js';

/** What the change log needs besides the decision. */
export interface RunRef {
  id: string;
  workspaceId: string;
  sequenceId: string;
  subscriberId: string;
  /** The sequence version the run follows. */
  version: number;
}

export interface LoadedRun {
  state: RunState;
  ref: RunRef;
}

export interface Applied {
  ref: RunRef;
  decision: Decision;
}

const RUN_COLUMNS = Prisma.sql`e.id::text AS id, e."workspaceId"::text AS "workspaceId", e."sequenceId"::text AS "sequenceId",
  e."subscriberId"::text AS "subscriberId", e.version, e.status::text AS status, e."currentStepPosition", e."nextTriggerAt", e."startedAt",
  e."completedAt", e."cancelledAt", e."cancelReason", e."pausedAt", e."pausedUntil", e."failedAt", e.error`;

type RunRow = RunState & RunRef;

function toLoaded(row: RunRow): LoadedRun {
  const { workspaceId, sequenceId, subscriberId, version, ...state } = row;
  return { state: { ...state, status: row.status as RunStatus }, ref: { id: row.id, workspaceId, sequenceId, subscriberId, version } };
}

/**
 * Locks and loads runs, in id order (two lockers of overlapping sets cannot
 * deadlock). `skipLocked`: runs another transaction holds are left out.
 * `lock: false`: only loads them (a dry run).
 */
export async function lockRuns(tx: Tx, ids: readonly string[], options: { skipLocked?: boolean; lock?: boolean } = {}): Promise<Map<string, LoadedRun>> {
  return (await loadRuns(tx, ids, { ...options, sequences: false })).runs;
}

/**
 * lockRuns and loadMachineSequences in one round trip: the runs, and the
 * machine's view of each sequence version they follow (carried on the first
 * run of that version only).
 */
export async function loadRuns(
  tx: Tx,
  ids: readonly string[],
  options: { skipLocked?: boolean; lock?: boolean; sequences?: boolean } = {},
): Promise<{ runs: Map<string, LoadedRun>; sequences: Map<string, VersionedSequence> }> {
  const sequences = new Map<string, VersionedSequence>();
  if (!ids.length) return { runs: new Map(), sequences };
  const lock = options.lock === false ? Prisma.empty : options.skipLocked ? Prisma.sql`FOR UPDATE SKIP LOCKED` : Prisma.sql`FOR UPDATE`;
  const machine =
    options.sequences === false
      ? Prisma.sql`NULL::jsonb`
      : Prisma.sql`CASE WHEN row_number() OVER (PARTITION BY r."sequenceId", r.version ORDER BY r.id) = 1
          THEN ${machineJson(Prisma.sql`r."sequenceId"::uuid`, Prisma.sql`r.version`)} END`;
  const unique = [...new Set(ids)];
  const rows = await txQuery<RunRow & { machine: MachineJson | null }>(
    tx,
    Prisma.sql`
    WITH r AS (SELECT ${RUN_COLUMNS} FROM "Enrollment" e WHERE e.id = ANY(${unique}::uuid[]) ORDER BY e.id ${lock})
    SELECT r.*, ${machine} AS machine FROM r ORDER BY r.id`,
    { prepared: unique.length <= PREPARED_ROWS },
  );
  const runs = new Map<string, LoadedRun>();
  for (const { machine, ...row } of rows) {
    runs.set(row.id, toLoaded(row));
    if (machine) sequences.set(machineKey(row), toVersioned(machine, row.version));
  }
  return { runs, sequences };
}

/** A sequence version as machineJson builds it: the settings it runs with and its steps. */
interface MachineJson {
  settings: SequenceSettingsRow;
  steps: (StepTimingRow & { originId: string })[];
}

/**
 * One sequence version for the machine, as JSON: the live version reads the
 * sequence's settings; an older one the settings it was published with, over
 * the live ones. Null when the sequence does not exist.
 */
function machineJson(sequenceId: Prisma.Sql, version: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(
    SELECT jsonb_build_object(
      'settings', to_jsonb(s) || COALESCE((SELECT v.settings::jsonb FROM "SequenceVersion" v
        WHERE v."sequenceId" = ${sequenceId} AND v.number = ${version} AND s.version <> ${version}), '{}'::jsonb),
      'steps', COALESCE((
        SELECT jsonb_agg(jsonb_build_object('id', st.id, 'position', st."versionPosition", 'type', st.type,
          'originId', COALESCE(st."originId", st.id), 'delayDays', st."delayDays", 'delayHours', st."delayHours",
          'delayMinutes', st."delayMinutes", 'dateOffsetMinutes', st."dateOffsetMinutes") ORDER BY st."versionPosition")
        FROM "Step" st WHERE st."sequenceId" = ${sequenceId} AND st.version = ${version} AND st."versionPosition" IS NOT NULL), '[]'::jsonb))
    FROM (SELECT q.id, q.version, q.status, q."sequenceType", q."dateFieldPath", q."sendWindow", q.transactional, q."primaryReplyAction",
            q."primaryReplyPauseDuration", q."secondaryReplyAction", q."secondaryReplyPauseDuration", q."throttleCapacity"
          FROM "Sequence" q WHERE q.id = ${sequenceId}) s)`;
}

function toVersioned(json: MachineJson, version: number): VersionedSequence {
  const machine = toMachineSequence(json.settings, json.steps);
  return { ...machine, version, steps: machine.steps.map((st, i) => ({ ...st, originId: json.steps[i]!.originId })) };
}

/** A sequence version: the key of loadMachineSequences' map. */
export const machineKey = (ref: { sequenceId: string; version: number }) => `${ref.sequenceId}@${ref.version}`;

/**
 * The machine's view of sequence versions (a run follows its own): settings and
 * the version's steps in position order (see machineJson). One query.
 */
export async function loadMachineSequences(tx: Tx, refs: readonly { sequenceId: string; version: number }[]): Promise<Map<string, VersionedSequence>> {
  const keys = [...new Map(refs.map((r) => [machineKey(r), r])).values()];
  if (!keys.length) return new Map();
  const rows = await txQuery<{ sequenceId: string; version: number; machine: MachineJson | null }>(tx, Prisma.sql`
    SELECT k.sequence::text AS "sequenceId", k.version, ${machineJson(Prisma.sql`k.sequence`, Prisma.sql`k.version`)} AS machine
    FROM unnest(${keys.map((k) => k.sequenceId)}::uuid[], ${keys.map((k) => k.version)}::int[]) AS k(sequence, version)`);
  const machines = new Map<string, VersionedSequence>();
  for (const row of rows) if (row.machine) machines.set(machineKey(row), toVersioned(row.machine, row.version));
  return machines;
}

/**
 * What the machine needs beyond the run's row: DATE runs' dates (from the entry
 * event, else the subscriber's attributes). One query, only for DATE sequences.
 */
export async function loadRunFacts(tx: Tx, runs: readonly LoadedRun[], sequences: Map<string, MachineSequence>): Promise<Map<string, RunFacts>> {
  const dated = runs.filter((r) => sequences.get(machineKey(r.ref))?.sequenceType === 'DATE');
  const facts = new Map<string, RunFacts>();
  if (!dated.length) return facts;
  const rows = await tx.$queryRaw<{ id: string; entryEvent: unknown; attributes: unknown }[]>`
    SELECT e.id::text, e."entryEvent", s.attributes FROM "Enrollment" e JOIN "Subscriber" s ON s.id = e."subscriberId"
    WHERE e.id = ANY(${dated.map((r) => r.ref.id)}::uuid[])`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const run of dated) {
    const row = byId.get(run.ref.id);
    const sequence = sequences.get(machineKey(run.ref))!;
    facts.set(run.ref.id, { runDate: sequenceRunDate({ sequenceType: 'DATE', dateFieldPath: sequence.dateFieldPath ?? null }, row?.entryEvent ?? null, row?.attributes ?? null) });
  }
  return facts;
}

/** Jobs a writer completes in its own statement (pg-boss's complete, completeJobsSql). */
export interface JobsDone {
  name: string;
  ids: readonly string[];
}

/**
 * Writes decisions: run columns, change log, jobs, queued-run release — one
 * statement (the jobs and the change log ride as data-modifying CTEs beside the
 * UPDATE, under the rows' locks the caller holds). `complete`: the jobs these
 * decisions finish, completed in that statement too.
 */
export async function apply(
  ctx: EngineContext,
  tx: Tx,
  applied: readonly Applied[],
  options: { notify?: readonly string[]; complete?: JobsDone } = {},
): Promise<void> {
  const changed = applied.filter((a) => a.decision.changed);
  const jobs: JobToSend[] = [];
  for (const { ref, decision } of applied) {
    const { workspaceId } = ref;
    if (decision.schedule) {
      jobs.push({ name: QUEUES.step, data: { enrollmentId: ref.id, stepId: decision.schedule.stepId }, startAfter: decision.schedule.at, workspaceId });
    }
    if (decision.pauseTimeout) {
      jobs.push({
        name: QUEUES.pauseTimeout,
        data: { enrollmentId: ref.id, pausedUntil: decision.pauseTimeout.toISOString() },
        startAfter: decision.pauseTimeout,
        workspaceId,
      });
    }
  }
  const release = new Map(applied.filter((a) => a.decision.releaseQueued).map((a) => [a.ref.sequenceId, a.ref.workspaceId]));
  for (const [sequenceId, workspaceId] of release) jobs.push({ name: QUEUES.releaseQueued, data: { sequenceId }, workspaceId });
  const changes = applied.flatMap(({ ref, decision }) =>
    decision.changes.map((c) => ({ ...ref, previousStatus: c.previousStatus, status: c.status, reason: c.reason, occurredAt: decision.at })),
  );
  const notify = options.notify ?? [];
  const done = options.complete?.ids.length ? options.complete : null;
  if (!changed.length && !jobs.length && !changes.length && !notify.length && !done) return;
  const insertJobs = await jobsInsert(ctx, tx, jobs);
  const logInsert = changes.length ? takeRunChanges(tx, changes) : null;
  notifyStats(tx, notify);
  const n = changed.map((a) => a.decision.next);
  const ctes = [
    ...(changed.length
      ? [
          Prisma.sql`runs AS (
      UPDATE "Enrollment" AS e SET
        status = u.status::"EnrollmentStatus", "currentStepPosition" = u.position, "nextTriggerAt" = u.next_at,
        "startedAt" = u.started_at, "completedAt" = u.completed_at, "cancelledAt" = u.cancelled_at,
        "cancelReason" = u.cancel_reason, "pausedAt" = u.paused_at, "pausedUntil" = u.paused_until,
        "failedAt" = u.failed_at, error = u.error, "updatedAt" = u.at
      FROM unnest(
        ${n.map((r) => r.id)}::uuid[], ${n.map((r) => r.status)}::text[], ${n.map((r) => r.currentStepPosition)}::int[],
        ${n.map((r) => r.nextTriggerAt)}::timestamp(3)[], ${n.map((r) => r.startedAt)}::timestamp(3)[],
        ${n.map((r) => r.completedAt)}::timestamp(3)[], ${n.map((r) => r.cancelledAt)}::timestamp(3)[],
        ${n.map((r) => r.cancelReason)}::text[], ${n.map((r) => r.pausedAt)}::timestamp(3)[],
        ${n.map((r) => r.pausedUntil)}::timestamp(3)[], ${n.map((r) => r.failedAt)}::timestamp(3)[],
        ${n.map((r) => r.error)}::text[], ${changed.map((a) => a.decision.at)}::timestamp(3)[]
      ) AS u(id, status, position, next_at, started_at, completed_at, cancelled_at, cancel_reason, paused_at, paused_until, failed_at, error, at)
      WHERE e.id = u.id RETURNING 1)`,
        ]
      : []),
    ...(insertJobs ? [Prisma.sql`jobs AS (${insertJobs})`] : []),
    ...(logInsert ? [Prisma.sql`logged AS (${logInsert} RETURNING 1)`] : []),
    ...(done ? [Prisma.sql`done AS (${completeJobsSql(done.name, done.ids)})`] : []),
  ];
  // Nothing below reads its answer: in a lean transaction (a claim, a record of answers) it goes with the
  // next statement or the COMMIT, so the change-log key it takes holds readers back for no round trip.
  if (ctes.length) await txExecuteDeferred(tx, Prisma.sql`WITH ${Prisma.join(ctes, ', ')} SELECT 1`, { prepared: applied.length <= PREPARED_ROWS });
}

/**
 * Locks the runs, decides `input` for each and applies the decisions. Runs that
 * do not exist are left out. Returns the decisions (refusals included: the caller
 * turns them into errors, before anything is written, with `refuse: 'throw'`).
 */
export async function transitionRuns(
  ctx: EngineContext,
  tx: Tx,
  ids: readonly string[],
  input: RunInput | ((run: LoadedRun) => RunInput),
  options: {
    at?: Date | ((run: LoadedRun) => Date);
    onRefused?: (decision: Decision) => never;
    notify?: readonly string[];
    /** Jobs completed in apply's statement (only when nothing is refused with onRefused). */
    complete?: JobsDone;
  } = {},
): Promise<Applied[]> {
  const { runs, sequences } = await loadRuns(tx, ids);
  const facts = await loadRunFacts(tx, [...runs.values()], sequences);
  const now = ctx.clock.now();
  const applied: Applied[] = [];
  for (const run of runs.values()) {
    const at = typeof options.at === 'function' ? options.at(run) : (options.at ?? now);
    const decision = decide(run.state, sequences.get(machineKey(run.ref))!, typeof input === 'function' ? input(run) : input, at, facts.get(run.ref.id));
    if (decision.outcome === 'refused' && options.onRefused) options.onRefused(decision);
    applied.push({ ref: run.ref, decision });
  }
  await apply(ctx, tx, applied, { notify: options.notify, complete: options.complete });
  return applied;
}

export interface EndedRow extends Omit<RunRef, 'version'> {
  previousStatus: RunStatus;
  enrollmentKey: string | null;
}

export interface EndedRuns {
  count: number;
  /** The ended runs in id order: all of them, or the first `sample`. */
  rows: EndedRow[];
}

/**
 * Cancels or stops every open run matching `where` (over `Enrollment e`): the
 * machine's uniform transition, set-based. One statement locks the runs in id
 * order, updates them and appends their changes to the log (100,000 runs never
 * travel to the process and back); a step being recorded for one of them commits
 * first. Returns the count and the rows (or the first `sample` of them).
 */
export async function endRunsWhere(
  ctx: EngineContext,
  tx: Tx,
  where: Prisma.Sql,
  input: { kind: 'cancel' | 'stop'; reason: string },
  options: { sample?: number } = {},
): Promise<EndedRuns> {
  const at = ctx.clock.now();
  const t = uniformTransition(input, at);
  if (t.from.join() !== OPEN_STATUSES.join()) throw new Error('endRunsWhere assumes the open statuses');
  const limit = options.sample ?? null;
  // 100,000 ended runs are sorted (lock order) and held by the statement and the stats trigger: in memory, not in temp files.
  await tx.$executeRaw`SET LOCAL work_mem = '64MB'`;
  const [result] = await tx.$queryRaw<{ count: number; rows: EndedRow[] | null; workspaces: string[] | null; sequences: string[] | null }[]>`
    WITH old AS (
      SELECT e.id, e.status FROM "Enrollment" e WHERE ${where} AND e.status IN ${OPEN} ORDER BY e.id FOR UPDATE
    ), ended AS (
      UPDATE "Enrollment" AS u
      SET status = ${t.set.status}::"EnrollmentStatus", "cancelledAt" = ${t.set.cancelledAt}, "cancelReason" = ${t.set.cancelReason},
          "nextTriggerAt" = NULL, "pausedUntil" = NULL, "updatedAt" = ${at}
      FROM old WHERE u.id = old.id AND u.status IN ${OPEN}
      RETURNING u.id, u."workspaceId", u."sequenceId", u."subscriberId", old.status AS previous, u."enrollmentKey"
    ), bound AS (
      -- After every lock (the count reads all of ended), from a fresh snapshot: this
      -- statement's own predates the changes committed while it waited for a run.
      SELECT stepwise_change_key_bound() AS key, every_lock_taken.count FROM (SELECT count(*)::int AS count FROM ended) AS every_lock_taken
    ), logged AS (
      ${changeLogInsert(
        Prisma.sql`
        SELECT "workspaceId" AS workspace, id AS enrollment, "sequenceId" AS sequence, "subscriberId" AS subscriber,
               previous::text AS previous, ${t.to}::text AS status, ${t.reason}::text AS reason, ${at}::timestamp(3) AS at
        FROM ended`,
        { bound: Prisma.sql`(SELECT key FROM bound)`, unordered: true },
      )}
    ), touched AS (
      SELECT DISTINCT "workspaceId", "sequenceId" FROM ended
    )
    -- logged runs whether read or not (a data-modifying CTE always runs to completion).
    SELECT (SELECT count FROM bound) AS count,
      (SELECT json_agg(json_build_object('id', s.id, 'workspaceId', s."workspaceId", 'sequenceId', s."sequenceId",
         'subscriberId', s."subscriberId", 'previousStatus', s.previous, 'enrollmentKey', s."enrollmentKey") ORDER BY s.id)
       FROM (SELECT * FROM ended ORDER BY id LIMIT ${limit}) s) AS rows,
      (SELECT array_agg(DISTINCT "workspaceId"::text) FROM touched) AS workspaces,
      (SELECT array_agg(DISTINCT "sequenceId"::text) FROM touched) AS sequences`;
  const workspaces = result?.workspaces ?? [];
  notifyWorkspaces(tx, workspaces);
  // Ended runs free room on throttled sequences.
  const sequenceIds = result?.sequences ?? [];
  if (sequenceIds.length) {
    const throttled = await tx.sequence.findMany({
      where: { id: { in: sequenceIds }, throttleCapacity: { not: null } },
      select: { id: true, workspaceId: true },
    });
    await enqueue(ctx, tx, throttled.map((s) => ({ name: QUEUES.releaseQueued, data: { sequenceId: s.id }, workspaceId: s.workspaceId })));
  }
  return { count: result?.count ?? 0, rows: result?.rows ?? [] };
}

/** The PAUSE reply action's end: a run still paused by that reply finishes. */
export async function finishReplyPause(ctx: EngineContext, enrollmentId: string, pausedUntil: Date): Promise<void> {
  await transaction(ctx, (tx) => transitionRuns(ctx, tx, [enrollmentId], { kind: 'pauseTimeout', pausedUntil }));
}

// Sequence versions on the database side (issue 14): the record a publish
// leaves, the hidden draft a live sequence is edited in, and a publish applied
// to the runs in flight — each run planned by the run machine (publish.ts),
// the decisions written by lifecycle.apply.
import type { Tx } from '../db/client.js';
import { isOpen } from '../domain/run-machine/index.js';
import { planPublish, VERSION_SETTINGS, type RunMigration, type RunPlan, type VersionedSequence } from '../domain/run-machine/publish.js';
import { uuidv7 } from '../domain/tracking-links.js';
import { Prisma, type Sequence, type Step } from '../generated/prisma/client.js';
import type { EngineContext } from './context.js';
import { apply, loadRunFacts, loadRuns, machineKey, type RunRef } from './lifecycle.js';
import { OPEN_SQL } from './run-status.js';

type Settings = Pick<Sequence, (typeof VERSION_SETTINGS)[number]>;

/** The run-affecting settings of a sequence row, as its version records them. */
export function versionSettings(sequence: Settings): Prisma.InputJsonObject {
  return Object.fromEntries(VERSION_SETTINGS.map((key) => [key, sequence[key] ?? null])) as Prisma.InputJsonObject;
}

/** Records version `number` of the sequence as it stands (steps of that version, settings of the row). */
export async function recordVersion(ctx: Pick<EngineContext, 'clock'>, tx: Tx, sequenceId: string, number: number, note: string | null): Promise<void> {
  const sequence = await tx.sequence.findUniqueOrThrow({ where: { id: sequenceId } });
  const stepCount = await tx.step.count({ where: { sequenceId, version: number, versionPosition: { not: null } } });
  await tx.sequenceVersion.create({ data: { sequenceId, number, note, stepCount, settings: versionSettings(sequence), publishedAt: ctx.clock.now() } });
}

const json = (value: Prisma.JsonValue) => (value === null ? Prisma.DbNull : (value as Prisma.InputJsonValue));

/** A step's content, to write as another row (a draft's copy, a rollback's). */
function stepContent({ id, sequenceId, createdAt, updatedAt, removedAt, originId, blocks, discount, position, versionPosition, version, ...rest }: Step) {
  return { ...rest, originId: originId ?? id, blocks: json(blocks), discount: json(discount) };
}

/**
 * The draft of a live sequence: a hidden DRAFT row with its settings and a copy
 * of its live steps (each carrying the stable id of the step it copies). The
 * slug cannot clash: user slugs never hold a double dash.
 */
export async function createDraft(tx: Tx, live: Sequence): Promise<Sequence> {
  const { id, slug, status, enabledAt, lockedAt, createdAt, updatedAt, lastUsedAt, draftOfId, sendWindow, ...rest } = live;
  const draft = await tx.sequence.create({
    data: { ...rest, slug: `${slug}--draft`, status: 'DRAFT', draftOfId: id, sendWindow: json(sendWindow) },
  });
  const steps = await tx.step.findMany({ where: { sequenceId: id, position: { not: null } }, orderBy: { position: 'asc' } });
  await tx.step.createMany({
    data: steps.map((step) => ({ ...stepContent(step), sequenceId: draft.id, version: draft.version, position: step.position, versionPosition: step.position })),
  });
  return draft;
}

/**
 * What a step run history says about each run: the stable ids of its steps, and
 * when the latest ran — an email's sentAt, the time the machine timed the next
 * step from (a step being sent: when it was claimed).
 */
async function loadRunHistory(tx: Tx, ids: string[]): Promise<Map<string, { ran: Set<string>; lastAt: Date | null }>> {
  if (!ids.length) return new Map();
  const rows = await tx.$queryRaw<{ id: string; origins: string[]; lastAt: Date | null }[]>`
    SELECT sr."enrollmentId"::text AS id, array_agg(DISTINCT COALESCE(st."originId", st.id)::text) AS origins,
      max(COALESCE(m."sentAt", sr."executedAt", sr."scheduledAt")) AS "lastAt"
    FROM "StepRun" sr JOIN "Step" st ON st.id = sr."stepId" LEFT JOIN "Message" m ON m.id = sr."messageId"
    WHERE sr."enrollmentId" = ANY(${ids}::uuid[])
    GROUP BY sr."enrollmentId"`;
  return new Map(rows.map((r) => [r.id, { ran: new Set(r.origins), lastAt: r.lastAt }]));
}

export interface PlannedRuns {
  plans: RunPlan[];
  refs: Map<string, RunRef>;
}

/**
 * Plans every open run of the sequence for version `to`. `lock`: the runs are
 * row-locked first, in id order like every locker, waiting (not skipping): a
 * step batch holding some of them commits first, so what it sent is in the
 * history read here and recorded on the old version.
 */
export async function planOpenRuns(tx: Tx, sequenceId: string, to: VersionedSequence, mode: RunMigration, at: Date, lock: boolean): Promise<PlannedRuns> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM "Enrollment" WHERE "sequenceId" = ${sequenceId}::uuid AND status IN ${OPEN_SQL} ORDER BY id`;
  const loaded = await loadRuns(tx, rows.map((r) => r.id), { lock });
  const runs = [...loaded.runs.values()].filter((r) => isOpen(r.state.status));
  const froms = loaded.sequences;
  const [facts, history] = await Promise.all([loadRunFacts(tx, runs, froms), loadRunHistory(tx, runs.map((r) => r.ref.id))]);
  const plans = runs.map((run) => {
    const past = history.get(run.ref.id);
    return planPublish(
      { state: run.state, from: froms.get(machineKey(run.ref))!, ranOrigins: past?.ran ?? new Set(), lastStepAt: past?.lastAt ?? null, facts: facts.get(run.ref.id) },
      to,
      mode,
      at,
    );
  });
  return { plans, refs: new Map(runs.map((r) => [r.ref.id, r.ref])) };
}

/** Writes the plans: the machine's decisions (change log, jobs), then the runs' new version. */
export async function applyPlans(ctx: EngineContext, tx: Tx, { plans, refs }: PlannedRuns): Promise<void> {
  await apply(ctx, tx, plans.map((p) => ({ ref: refs.get(p.runId)!, decision: p.decision })));
  const moved = plans.filter((p) => p.version !== refs.get(p.runId)!.version);
  for (const version of new Set(moved.map((p) => p.version))) {
    const ids = moved.filter((p) => p.version === version).map((p) => p.runId);
    await tx.$executeRaw`UPDATE "Enrollment" SET version = ${version} WHERE id = ANY(${ids}::uuid[])`;
  }
}

/** The steps of the new version, written as rows of the live sequence without a position yet. */
export async function copySteps(tx: Tx, sequenceId: string, version: number, steps: readonly Step[]): Promise<Map<string, string>> {
  const ids = new Map(steps.map((s) => [s.id, uuidv7(Date.now())]));
  await tx.step.createMany({
    data: steps.map((step) => ({ ...stepContent(step), id: ids.get(step.id)!, sequenceId, version, position: null, versionPosition: step.versionPosition ?? step.position })),
  });
  return ids;
}

/**
 * Makes version `version` live: the old live steps lose their position (runs
 * kept on their version still follow them), the new version's steps — rows of
 * the live sequence with a versionPosition — take theirs, the run-affecting
 * settings are written on the sequence, and the version is recorded.
 */
export async function installVersion(ctx: Pick<EngineContext, 'clock'>, tx: Tx, sequenceId: string, version: number, settings: Settings, note: string | null): Promise<void> {
  await tx.step.updateMany({ where: { sequenceId, position: { not: null } }, data: { position: null } });
  await tx.$executeRaw`UPDATE "Step" SET position = "versionPosition" WHERE "sequenceId" = ${sequenceId}::uuid AND version = ${version} AND "versionPosition" IS NOT NULL`;
  const picked = Object.fromEntries(VERSION_SETTINGS.map((key) => [key, settings[key]])) as Settings;
  await tx.sequence.update({ where: { id: sequenceId }, data: { ...picked, sendWindow: json(picked.sendWindow), version } });
  await recordVersion(ctx, tx, sequenceId, version, note);
}

// Editing a live sequence (issue 14): its draft, publishing the draft (or an
// earlier version: a rollback) as the next version, with a dry run that says
// what happens to every run in flight. The plan of each run comes from the run
// machine (domain/run-machine/publish.ts); a publish applies exactly that plan,
// computed again under the runs' locks.
import type { Caller } from '../auth/actor.js';
import { owned } from '../db/scope.js';
import { transaction } from '../db/transaction.js';
import type { Tx } from '../db/client.js';
import { UserError } from '../domain/errors.js';
import { summarize, type PublishSummary, type VersionedSequence } from '../domain/run-machine/publish.js';
import { publishSequenceSchema, updateSequenceSchema, type UpdateSequenceDefinition } from '../domain/sequence-input.js';
import { compileLiveSteps } from '../engine/compiled-emails.js';
import { loadMachineSequences, machineKey } from '../engine/lifecycle.js';
import { lockSequenceRow } from '../engine/locks.js';
import type { EngineContext } from '../engine/context.js';
import { applyPlans, copySteps, createDraft, installVersion, planOpenRuns } from '../engine/versions.js';
import type { Sequence } from '../generated/prisma/client.js';
import { checkEnableable, checkSendable, editSequence, refuseIfDraft, refuseIfLocked, VERSIONED_INPUTS } from './sequences.js';
import { parseInput } from './user-input.js';

const INPUT = ['input'];

/** What a draft holds: the steps and the settings a version fixes (the rest is edited on the live sequence). */
const DRAFT_INPUTS = new Set<string>(VERSIONED_INPUTS);

/** The live (ACTIVE or PAUSED) sequence `id`, row-locked when `lock`. */
async function liveSequence(tx: Tx, actor: Caller, id: string, lock: boolean): Promise<Sequence> {
  const sequence = await owned(tx, actor, 'Sequence', id, { field: ['id'], lock });
  refuseIfDraft(sequence);
  if (sequence.status === 'DRAFT') {
    throw new UserError('The sequence is not live yet: edit it directly (updateSequence); enabling it publishes version 1', ['id'], 'NOT_LIVE');
  }
  if (sequence.status === 'ARCHIVED') throw new UserError('An archived sequence cannot be edited', ['id'], 'ARCHIVED');
  return sequence;
}

const noDraft = () => new UserError('The sequence has no draft: edit one first (editSequenceDraft)', ['id'], 'NO_DRAFT');

/** Edits the draft of a live sequence, creating it (a copy of the live version) on the first edit. Returns the draft's id. */
export async function editSequenceDraft(actor: Caller, id: string, rawInput: unknown): Promise<string> {
  const input: UpdateSequenceDefinition = parseInput(updateSequenceSchema, rawInput, INPUT);
  const other = Object.keys(input).find((key) => input[key as keyof UpdateSequenceDefinition] !== undefined && !DRAFT_INPUTS.has(key));
  if (other) {
    throw new UserError(`${other} is not part of a version: change it on the live sequence (updateSequence)`, [...INPUT, other], 'NOT_VERSIONED');
  }
  return transaction(actor.runtime, async (tx) => {
    const live = await liveSequence(tx, actor, id, true);
    refuseIfLocked(live);
    const existing = await tx.sequence.findUnique({ where: { draftOfId: live.id } });
    const draft = existing ?? (await createDraft(tx, live));
    await lockSequenceRow(tx, draft.id);
    await editSequence(tx, actor, await tx.sequence.findUniqueOrThrow({ where: { id: draft.id } }), input);
    return draft.id;
  });
}

/** Deletes the draft; the live sequence and its runs are untouched. Returns the live sequence's id. */
export async function discardSequenceDraft(actor: Caller, id: string): Promise<string> {
  return transaction(actor.runtime, async (tx) => {
    const live = await owned(tx, actor, 'Sequence', id, { field: ['id'], lock: true });
    refuseIfDraft(live);
    const { count } = await tx.sequence.deleteMany({ where: { draftOfId: live.id } });
    if (!count) throw noDraft();
    return live.id;
  });
}

export interface PublishResult extends PublishSummary {
  sequenceId: string;
  dryRun: boolean;
  /** The version published; null for a dry run. */
  version: number | null;
}

/** Publishes the draft as the next version (a dry run unless input.dryRun is false). */
export function publishSequence(actor: Caller, id: string, rawInput: unknown): Promise<PublishResult> {
  return publish(actor, id, rawInput, null);
}

/** Publishes a copy of version `toVersion` as the next version, through the same dry-run-first publish. */
export function rollbackSequence(actor: Caller, id: string, toVersion: number, rawInput: unknown): Promise<PublishResult> {
  return publish(actor, id, rawInput, toVersion);
}

interface Target {
  to: VersionedSequence;
  /** Makes the target the live version (after the runs were moved). */
  install(note: string | null): Promise<void>;
}

async function publish(actor: Caller, id: string, rawInput: unknown, toVersion: number | null): Promise<PublishResult> {
  const input = parseInput(publishSequenceSchema, rawInput ?? {}, INPUT);
  const lock = !input.dryRun;
  const attempt = () =>
    transaction(actor.runtime, async (tx) => {
        // The sequence row first (edits and status changes queue behind it; new runs wait, see start-run.ts), then its runs.
        const live = await liveSequence(tx, actor, id, lock);
        // A locked sequence keeps its definition until unlocked (a dry run still shows what a publish would do).
        if (lock) refuseIfLocked(live);
        const version = live.version + 1;
        const target = toVersion === null ? await draftTarget(actor.runtime, tx, live, version, lock) : await rollbackTarget(actor.runtime, tx, live, toVersion, version, lock);
        const planned = await planOpenRuns(tx, live.id, target.to, input.runs, actor.runtime.clock.now(), lock);
        if (lock) {
          await applyPlans(actor.runtime, tx, planned);
          await target.install(input.note ?? (toVersion === null ? null : `rollback to v${toVersion}`));
        }
        return { sequenceId: live.id, dryRun: input.dryRun, version: lock ? version : null, ...summarize(planned.plans, input.limit) };
      },
      { timeout: 120_000, maxWait: 30_000 },
    );
  if (!lock) return attempt();
  const published = await retryDeadlock(attempt);
  // The new version's emails compiled now and stored, so workers fill them without MJML.
  await compileLiveSteps(actor.runtime, published.sequenceId);
  return published;
}

/** The draft, as the next version: its steps become the live sequence's rows. */
async function draftTarget(ctx: EngineContext, tx: Tx, live: Sequence, version: number, lock: boolean): Promise<Target> {
  const found = await tx.sequence.findUnique({ where: { draftOfId: live.id }, select: { id: true } });
  if (!found) throw noDraft();
  if (lock) await lockSequenceRow(tx, found.id);
  const draft = await tx.sequence.findUniqueOrThrow({ where: { id: found.id } });
  // A draft that leaves the sequence unsendable is refused (NO_STEPS, STRIPE_NOT_CONNECTED, …).
  await checkEnableable(tx, draft, ['id']);
  const ref = { sequenceId: draft.id, version: draft.version };
  const machine = (await loadMachineSequences(tx, [ref])).get(machineKey(ref))!;
  return {
    to: { ...machine, id: live.id, status: live.status, version },
    install: async (note) => {
      await tx.$executeRaw`
        UPDATE "Step" SET "sequenceId" = ${live.id}::uuid, version = ${version}, "versionPosition" = position, position = NULL
        WHERE "sequenceId" = ${draft.id}::uuid AND position IS NOT NULL`;
      await installVersion(ctx, tx, live.id, version, draft, note);
      await tx.sequence.delete({ where: { id: draft.id } });
    },
  };
}

/** Version `number` again, as the next version: copies of its steps, its settings. */
async function rollbackTarget(ctx: EngineContext, tx: Tx, live: Sequence, number: number, version: number, lock: boolean): Promise<Target> {
  const record = await tx.sequenceVersion.findUnique({ where: { sequenceId_number: { sequenceId: live.id, number } } });
  if (!record) throw new UserError(`The sequence has no version ${number}`, ['toVersion'], 'UNKNOWN_VERSION');
  const rows = await tx.step.findMany({ where: { sequenceId: live.id, version: number, versionPosition: { not: null } }, orderBy: { versionPosition: 'asc' } });
  await checkSendable(tx, live.workspaceId, rows, ['toVersion']);
  const ref = { sequenceId: live.id, version: number };
  const machine = (await loadMachineSequences(tx, [ref])).get(machineKey(ref))!;
  // A dry run shows the old version's rows; a publish plans with their copies.
  const copies = lock ? await copySteps(tx, live.id, version, rows) : null;
  const settings = number === live.version ? live : { ...live, ...(record.settings as Partial<Sequence>) };
  return {
    to: { ...machine, status: live.status, version, steps: machine.steps.map((s) => ({ ...s, id: copies?.get(s.id) ?? s.id })) },
    install: (note) => installVersion(ctx, tx, live.id, version, settings, note),
  };
}

/** A deadlock with a sender in flight (rare: both lock a run and a step) aborts one side; the publish tries again. */
async function retryDeadlock<T>(attempt: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= tries || !/deadlock/i.test(String((error as Error)?.message ?? error))) throw error;
    }
  }
}

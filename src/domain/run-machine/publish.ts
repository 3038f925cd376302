// Publishing a new version of a live sequence: what happens to each open run.
// Pure, like the rest of the machine (the time comes in): the engine loads the
// runs (under lock when it publishes), plans each one here and applies the
// decisions through lifecycle.apply — a dry run shows the same plans unapplied.
//
// Steps are matched across versions by their stable id (`originId`). A step a
// run already has a step run for (sent, skipped, failed or being sent) is never
// its next step again; new steps belong with the surviving step before them, so
// a step inserted before the run's position is not sent to it.
import { base, isOpen, stepDueAt, transition, type Decision, type MachineSequence, type MachineStep, type RunFacts, type RunState } from './index.js';

export const RUN_MIGRATIONS = ['MOVE', 'KEEP'] as const;
export type RunMigration = (typeof RUN_MIGRATIONS)[number];

export const PUBLISH_OUTCOMES = ['MOVED', 'UNCHANGED', 'COMPLETED', 'KEPT'] as const;
export type PublishOutcome = (typeof PUBLISH_OUTCOMES)[number];

/**
 * The sequence settings a version fixes besides its steps (snapshotted on
 * SequenceVersion.settings; runs kept on an old version read them from there).
 * Editing them on a live sequence goes through its draft.
 */
export const VERSION_SETTINGS = [
  'stopConditionType',
  'stopConditionValue',
  'primaryReplyAction',
  'primaryReplyPauseDuration',
  'secondaryReplyAction',
  'secondaryReplyPauseDuration',
  'scheduleIntervalType',
  'transactional',
  'sendWindow',
] as const;
export type VersionSettingKey = (typeof VERSION_SETTINGS)[number];

export interface VersionStep extends MachineStep {
  /** The step's id across versions. */
  originId: string;
}

export interface VersionedSequence extends MachineSequence {
  version: number;
  steps: readonly VersionStep[];
}

export interface PublishRun {
  state: RunState;
  /** The version the run is on. */
  from: VersionedSequence;
  /** Origins of the steps the run has a step run for (sent, skipped, failed or being sent). */
  ranOrigins: ReadonlySet<string>;
  /** When its latest step ran; null: none yet (due times count from its start). */
  lastStepAt: Date | null;
  facts?: RunFacts;
}

export interface RunPlan {
  runId: string;
  outcome: PublishOutcome;
  fromStep: VersionStep | null;
  toStep: VersionStep | null;
  dueBefore: Date | null;
  dueAfter: Date | null;
  /** The version the run is on afterwards. */
  version: number;
  /** What lifecycle.apply writes (nothing for KEPT; the version is written beside it). */
  decision: Decision;
}

/** The reason logged for a run a publish completes. */
export const publishedReason = (version: number) => `published v${version}`;

/**
 * The step a run moving to `to` waits for next, or null when nothing is left:
 * the first step after every step it has passed (run, or before its position)
 * that stands at or after its position and has not run.
 */
export function nextStepOnPublish(run: Pick<PublishRun, 'state' | 'from' | 'ranOrigins'>, to: Pick<VersionedSequence, 'steps'>): VersionStep | null {
  const position = run.state.currentStepPosition;
  if (position === null) return null;
  const old = new Map(run.from.steps.map((s) => [s.originId, s]));
  const passed = (s: VersionStep) => run.ranOrigins.has(s.originId) || (old.get(s.originId)?.position ?? Infinity) < position;
  // Nothing before the last passed step (a reordered draft) is sent: that would send a passed one again after it.
  const fence = to.steps.findLastIndex(passed);
  let ahead = false;
  for (const [i, step] of to.steps.entries()) {
    const before = old.get(step.originId);
    // A new step goes with the surviving step before it (none: it is before the run).
    if (before) ahead = before.position >= position;
    if (i > fence && ahead && !run.ranOrigins.has(step.originId)) return step;
  }
  return null;
}

/** What publishing version `to` with `mode` does to one open run, at `at`. */
export function planPublish(run: PublishRun, to: VersionedSequence, mode: RunMigration, at: Date): RunPlan {
  const { state, from } = run;
  if (!isOpen(state.status)) throw new Error(`planPublish: run ${state.id} is ${state.status}`);
  const fromStep = from.steps.find((s) => s.position === state.currentStepPosition) ?? null;
  const same = { runId: state.id, fromStep, dueBefore: state.nextTriggerAt };
  if (mode === 'KEEP') {
    return { ...same, outcome: 'KEPT', toStep: fromStep, dueAfter: state.nextTriggerAt, version: from.version, decision: base(state, at) };
  }
  // Not begun (throttled): it begins on the new version.
  if (state.currentStepPosition === null) {
    return { ...same, outcome: 'UNCHANGED', toStep: null, dueAfter: state.nextTriggerAt, version: to.version, decision: base(state, at) };
  }
  const reason = publishedReason(to.version);
  const toStep = nextStepOnPublish(run, to);
  if (!toStep) {
    const decision = transition(state, to, at, 'COMPLETED', 'completed', reason);
    return { ...same, outcome: 'COMPLETED', toStep: null, dueAfter: null, version: to.version, decision };
  }
  // Timed from its previous step with the new delay; already due: at once (one job, so once).
  const computed = stepDueAt(toStep, run.lastStepAt ?? state.startedAt, to, run.facts?.runDate ?? null);
  const dueAfter = computed < at ? at : computed;
  const unchanged = fromStep?.originId === toStep.originId && state.nextTriggerAt?.getTime() === dueAfter.getTime();
  // Every run moved gets a job for its step of the new version (the old version's jobs find no step and are ignored).
  const decision: Decision = {
    ...base(state, at),
    outcome: 'rescheduled',
    reason,
    next: { ...state, currentStepPosition: toStep.position, nextTriggerAt: dueAfter },
    changed: true,
    schedule: state.status === 'ACTIVE' ? { stepId: toStep.id, at: dueAfter } : null,
  };
  return { ...same, outcome: unchanged ? 'UNCHANGED' : 'MOVED', toStep, dueAfter, version: to.version, decision };
}

export interface PublishSummary {
  movedCount: number;
  keptCount: number;
  completedCount: number;
  unchangedCount: number;
  /** Runs a publish changes (moved or completed), in run order, at most `limit`. */
  moves: RunPlan[];
  hasMore: boolean;
}

export function summarize(plans: readonly RunPlan[], limit: number): PublishSummary {
  const count = (o: PublishOutcome) => plans.filter((p) => p.outcome === o).length;
  const affected = plans.filter((p) => p.outcome === 'MOVED' || p.outcome === 'COMPLETED');
  return {
    movedCount: count('MOVED'),
    keptCount: count('KEPT'),
    completedCount: count('COMPLETED'),
    unchangedCount: count('UNCHANGED'),
    moves: affected.slice(0, Math.max(0, limit)),
    hasMore: affected.length > limit,
  };
}

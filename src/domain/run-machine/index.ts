// The run state machine: the one home of "what happens to a run". Given a run's
// state, its sequence and an input (a due step, a step's result, a cancel, a stop
// condition met, a reply, a pause or resume, a release from the throttle queue),
// it returns the run's next state, the change-log entry, the jobs to create and
// what to execute. No I/O and no wall clock: the time comes in with the input, so
// the same machine runs on a simulated clock. The engine loads state in bulk,
// calls `decide` and writes the decisions in bulk (src/engine/lifecycle.ts).
import { dateStepDueAt, lateDateStepReason, nextOpening, stepDueAt as scheduledDueAt, type SendWindow } from '../schedule.js';

export const RUN_STATUSES = ['QUEUED', 'ACTIVE', 'PAUSED', 'COMPLETED', 'CANCELLED', 'STOPPED', 'FAILED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const OPEN_RUN_STATUSES: readonly RunStatus[] = ['QUEUED', 'ACTIVE', 'PAUSED'];
export const ENDED_RUN_STATUSES: readonly RunStatus[] = ['COMPLETED', 'CANCELLED', 'STOPPED', 'FAILED'];

export const isOpen = (status: RunStatus) => OPEN_RUN_STATUSES.includes(status);

/** The columns of a run the machine reads and writes. */
export interface RunState {
  id: string;
  status: RunStatus;
  currentStepPosition: number | null;
  nextTriggerAt: Date | null;
  startedAt: Date;
  completedAt: Date | null;
  cancelledAt: Date | null;
  cancelReason: string | null;
  pausedAt: Date | null;
  pausedUntil: Date | null;
  failedAt: Date | null;
  error: string | null;
}

export interface MachineStep {
  id: string;
  position: number;
  type: 'EMAIL' | 'CREATE_DISCOUNT' | (string & {});
  delaySeconds: number;
  /** DATE sequences: minutes after the run's date (negative: before). */
  dateOffsetMinutes?: number | null;
}

export interface MachineSequence {
  id: string;
  /** INTERVAL: each step after the one before; DATE: each step at its offset from the run's date. */
  sequenceType?: 'INTERVAL' | 'DATE' | (string & {});
  /** DATE sequences: where the run's date is read (entry event, else subscriber attributes). */
  dateFieldPath?: string | null;
  status: 'DRAFT' | 'ACTIVE' | 'PAUSED' | 'ARCHIVED';
  /** Steps with a position, in position order. */
  steps: readonly MachineStep[];
  sendWindow: SendWindow | null;
  transactional: boolean;
  primaryReplyAction: 'FINISH' | 'CONTINUE' | 'PAUSE';
  /** Seconds a PAUSE reply action pauses the run before it finishes. */
  primaryReplyPauseSeconds: number | null;
  /** What a reply from someone else on the thread does (Outreach's rule). */
  secondaryReplyAction: 'FINISH' | 'CONTINUE' | 'PAUSE';
  secondaryReplyPauseSeconds: number | null;
  /** A capacity throttle: a run that ends frees room for a queued one. */
  throttleCapacity: number | null;
}

export type SubscriberStatus = 'ACTIVE' | 'UNSUBSCRIBED' | 'BOUNCED' | 'COMPLAINED' | (string & {});

export type RunInput =
  /** A run just created ACTIVE, or a QUEUED one released: point it at its first step. */
  | { kind: 'begin' }
  /** A step's job came due. `alreadyRun`: a step run exists for it (a duplicate or retried job). */
  | { kind: 'stepDue'; stepId: string; alreadyRun: boolean; subscriberStatus: SubscriberStatus }
  /** The step was executed (email handed over, discount issued, or skipped): move on. */
  | { kind: 'stepDone'; stepId: string }
  /** The step failed for good (final attempt): the run fails with the error in its history. */
  | { kind: 'stepFailed'; stepId: string; error: string }
  /** `markCompleted`: removing a subscriber also stamps completedAt (Broadcast's "completed or removed" time). */
  | { kind: 'cancel'; reason: string; markCompleted?: boolean }
  | { kind: 'stop'; reason: string }
  | { kind: 'pause'; reason: string }
  | { kind: 'resume' }
  /** A reply: the sequence's primary or secondary reply action applies. */
  | { kind: 'reply'; primary: boolean }
  /** The PAUSE reply action's timer. */
  | { kind: 'pauseTimeout'; pausedUntil: Date }
  /** The sequence was enabled again: runs waiting on a step get its job again. */
  | { kind: 'sequenceEnabled' };

export interface ChangeEntry {
  previousStatus: RunStatus;
  status: RunStatus;
  reason: string | null;
}

export type StepAction =
  | { kind: 'send'; stepId: string }
  | { kind: 'discount'; stepId: string }
  /** Record the step as skipped (with the reason) and move on. */
  | { kind: 'skip'; stepId: string; reason: string }
  /** Record the step as failed with the error (the run fails with it). */
  | { kind: 'fail'; stepId: string; error: string };

export type Outcome =
  | 'begun'
  | 'execute'
  | 'deferred'
  | 'advanced'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'stopped'
  | 'paused'
  | 'resumed'
  | 'rescheduled'
  /** Nothing to do (a stale job, a reply with CONTINUE…); `reason` says why. */
  | 'ignored'
  /** The input is not allowed in the run's status (e.g. pausing a finished run). */
  | 'refused';

export interface Decision {
  runId: string;
  at: Date;
  outcome: Outcome;
  reason: string | null;
  /** The run's state after the input; equal to the state before when nothing changed. */
  next: RunState;
  changed: boolean;
  /** Change-log entries, in order (a queued run without steps is released, then completed). */
  changes: ChangeEntry[];
  /** A step job to create. */
  schedule: { stepId: string; at: Date } | null;
  /** A PAUSE reply action's timer to create. */
  pauseTimeout: Date | null;
  /** A step to execute (the engine does it, then feeds back stepDone or stepFailed). */
  action: StepAction | null;
  /** The run ended on a sequence with a capacity throttle: a queued run may start. */
  releaseQueued: boolean;
  /** For a refusal: a code for the caller's error. */
  code: string | null;
}

/** Facts about the run the machine cannot read from its row. */
export interface RunFacts {
  /** DATE sequences: the run's date (null when it has none). */
  runDate?: Date | null;
}

/**
 * When a step falls due after `previous` (the run's start or the last step): its
 * delay (DATE sequences: its offset from the run's date), pushed into the send
 * window. The single place the machine computes a due time (schedule.ts's rule).
 */
export function stepDueAt(
  step: MachineStep,
  previous: Date,
  sequence: Pick<MachineSequence, 'sendWindow'> & Partial<Pick<MachineSequence, 'sequenceType'>>,
  runDate: Date | null = null,
): Date {
  return scheduledDueAt(
    { sequenceType: sequence.sequenceType ?? 'INTERVAL', sendWindow: sequence.sendWindow },
    { delaySeconds: step.delaySeconds, dateOffsetMinutes: step.dateOffsetMinutes ?? null },
    previous,
    runDate,
  );
}

/** The columns a status sets on entry (timestamps, and what no longer applies). */
export function enterStatus(state: RunState, status: RunStatus, at: Date, reason: string | null): RunState {
  switch (status) {
    case 'COMPLETED':
      return { ...state, status, completedAt: at, nextTriggerAt: null, pausedUntil: null };
    case 'CANCELLED':
    case 'STOPPED':
      return { ...state, status, cancelledAt: at, cancelReason: reason, nextTriggerAt: null, pausedUntil: null };
    case 'FAILED':
      return { ...state, status, failedAt: at, error: reason, nextTriggerAt: null };
    case 'PAUSED':
      return { ...state, status, pausedAt: at };
    case 'ACTIVE':
      return { ...state, status, pausedAt: null, pausedUntil: null };
    default:
      return { ...state, status };
  }
}

/**
 * A transition that does not depend on the run's state beyond its status: the
 * statuses it applies to and the columns it sets. Bulk writers (a cancel of
 * 100,000 runs) apply it as one UPDATE … WHERE status IN (from).
 */
export function uniformTransition(input: { kind: 'cancel' | 'stop'; reason: string }, at: Date) {
  const to: RunStatus = input.kind === 'cancel' ? 'CANCELLED' : 'STOPPED';
  return {
    from: OPEN_RUN_STATUSES,
    to,
    reason: input.reason,
    set: { status: to, cancelledAt: at, cancelReason: input.reason, nextTriggerAt: null, pausedUntil: null },
  } as const;
}

/** The state of a run created ACTIVE at `at`. */
export function freshRun(id: string, at: Date): RunState {
  return {
    id,
    status: 'ACTIVE',
    currentStepPosition: null,
    nextTriggerAt: null,
    startedAt: at,
    completedAt: null,
    cancelledAt: null,
    cancelReason: null,
    pausedAt: null,
    pausedUntil: null,
    failedAt: null,
    error: null,
  };
}

/** A decision that changes nothing (the start of every other). */
export function base(run: RunState, at: Date): Decision {
  return {
    runId: run.id,
    at,
    outcome: 'ignored',
    reason: null,
    next: run,
    changed: false,
    changes: [],
    schedule: null,
    pauseTimeout: null,
    action: null,
    releaseQueued: false,
    code: null,
  };
}

const ignore = (run: RunState, at: Date, reason: string): Decision => ({ ...base(run, at), reason });

const refuse = (run: RunState, at: Date, reason: string, code = 'INVALID_TRANSITION'): Decision => ({
  ...base(run, at),
  outcome: 'refused',
  reason,
  code,
});

/** Moves the run to `status`, logging the change. */
export function transition(run: RunState, sequence: MachineSequence, at: Date, status: RunStatus, outcome: Outcome, reason: string | null, patch: Partial<RunState> = {}): Decision {
  const next = { ...enterStatus(run, status, at, reason), ...patch };
  return {
    ...base(run, at),
    outcome,
    reason,
    next,
    changed: true,
    changes: status === run.status ? [] : [{ previousStatus: run.status, status, reason }],
    releaseQueued: ENDED_RUN_STATUSES.includes(status) && sequence.throttleCapacity != null,
  };
}

/** The step after `position`, or the first when position is null. */
function stepAfter(sequence: MachineSequence, position: number | null): MachineStep | undefined {
  return sequence.steps.find((s) => position === null || s.position > position);
}

/** Points an ACTIVE run at the step after `position` (due from `from`), or completes it. */
function moveOn(
  run: RunState,
  sequence: MachineSequence,
  at: Date,
  position: number | null,
  from: Date,
  completeReason: string | null,
  facts: RunFacts,
): Decision {
  const next = stepAfter(sequence, position);
  if (!next) return transition(run, sequence, at, 'COMPLETED', 'completed', completeReason);
  const due = stepDueAt(next, from, sequence, facts.runDate ?? null);
  return {
    ...base(run, at),
    outcome: position === null ? 'begun' : 'advanced',
    next: { ...run, currentStepPosition: next.position, nextTriggerAt: due },
    changed: true,
    schedule: { stepId: next.id, at: due },
  };
}

const lower = (status: string) => status.toLowerCase();

export function decide(run: RunState, sequence: MachineSequence, input: RunInput, at: Date, facts: RunFacts = {}): Decision {
  switch (input.kind) {
    case 'begin': {
      if (run.status === 'QUEUED') {
        const released = transition(run, sequence, at, 'ACTIVE', 'begun', 'released from throttle', { startedAt: at });
        const first = moveOn(released.next, sequence, at, null, at, 'no steps', facts);
        return { ...first, changes: [...released.changes, ...first.changes] };
      }
      if (run.status !== 'ACTIVE') return refuse(run, at, `Only a new or queued run can begin; this one is ${lower(run.status)}`);
      return moveOn(run, sequence, at, null, at, 'no steps', facts);
    }

    case 'stepDue': {
      // Cancelled, stopped, paused or finished meanwhile: nothing to do.
      if (run.status !== 'ACTIVE') return ignore(run, at, `run is ${lower(run.status)}`);
      // A disabled sequence's runs wait; enabling it schedules them again.
      if (sequence.status !== 'ACTIVE') return ignore(run, at, `sequence is ${lower(sequence.status)}`);
      const step = sequence.steps.find((s) => s.id === input.stepId);
      if (!step || step.position !== run.currentStepPosition) return ignore(run, at, 'not the current step');
      if (input.alreadyRun) return ignore(run, at, 'step already run');
      const opening = nextOpening(at, sequence.sendWindow);
      if (opening.getTime() > at.getTime()) {
        return {
          ...base(run, at),
          outcome: 'deferred',
          reason: 'outside the send window',
          next: { ...run, nextTriggerAt: opening },
          changed: true,
          schedule: { stepId: step.id, at: opening },
        };
      }
      if (sequence.sequenceType === 'DATE') {
        // A DATE run without its date cannot be timed: it fails with the reason.
        if (!facts.runDate) {
          const error = `no date at ${sequence.dateFieldPath} in the entry event or the subscriber's attributes`;
          const failed = transition(run, sequence, at, 'FAILED', 'failed', `step ${step.position} failed: ${error}`);
          return { ...failed, action: { kind: 'fail', stepId: step.id, error } };
        }
        // A step whose time had passed when the run started is skipped.
        const late = lateDateStepReason(dateStepDueAt(facts.runDate, step.dateOffsetMinutes ?? 0, sequence.sendWindow), run.startedAt);
        if (late) return { ...moveOn(run, sequence, at, step.position, at, null, facts), action: { kind: 'skip', stepId: step.id, reason: late } };
      }
      // The policy point for every send: opted-out subscribers get only transactional email.
      if (step.type === 'EMAIL' && input.subscriberStatus !== 'ACTIVE' && !sequence.transactional) {
        const moved = moveOn(run, sequence, at, step.position, at, null, facts);
        return { ...moved, action: { kind: 'skip', stepId: step.id, reason: `subscriber is ${lower(input.subscriberStatus)}` } };
      }
      return {
        ...base(run, at),
        outcome: 'execute',
        action: step.type === 'EMAIL' ? { kind: 'send', stepId: step.id } : { kind: 'discount', stepId: step.id },
      };
    }

    case 'stepDone': {
      // Cancelled while the step was executing: the step stays recorded, the run does not move on.
      if (run.status !== 'ACTIVE') return ignore(run, at, `run is ${lower(run.status)}`);
      const step = sequence.steps.find((s) => s.id === input.stepId);
      if (!step || step.position !== run.currentStepPosition) return ignore(run, at, 'not the current step');
      // A completed run keeps pointing at its last step.
      return moveOn(run, sequence, at, step.position, at, null, facts);
    }

    case 'stepFailed': {
      if (run.status !== 'ACTIVE') return ignore(run, at, `run is ${lower(run.status)}`);
      const step = sequence.steps.find((s) => s.id === input.stepId);
      const position = step?.position ?? run.currentStepPosition;
      return transition(run, sequence, at, 'FAILED', 'failed', `step ${position} failed: ${input.error}`);
    }

    case 'cancel':
    case 'stop': {
      if (!isOpen(run.status)) return refuse(run, at, `The run is already ${lower(run.status)}`, 'ALREADY_ENDED');
      const uniform = uniformTransition(input, at);
      const patch = input.kind === 'cancel' && input.markCompleted ? { completedAt: at } : {};
      return transition(run, sequence, at, uniform.to, input.kind === 'cancel' ? 'cancelled' : 'stopped', input.reason, patch);
    }

    case 'pause': {
      if (run.status !== 'ACTIVE') return refuse(run, at, `Only an active run can be paused; this one is ${lower(run.status)}`);
      return transition(run, sequence, at, 'PAUSED', 'paused', input.reason);
    }

    case 'resume': {
      if (run.status !== 'PAUSED') return refuse(run, at, `Only a paused run can be resumed; this one is ${lower(run.status)}`);
      // It goes on with the step it was waiting for, at once if that fell due meanwhile.
      const due = new Date(Math.max(at.getTime(), run.nextTriggerAt?.getTime() ?? 0));
      const resumed = transition(run, sequence, at, 'ACTIVE', 'resumed', 'resumed', { nextTriggerAt: due });
      const step = sequence.steps.find((s) => s.position === run.currentStepPosition);
      return { ...resumed, schedule: step ? { stepId: step.id, at: due } : null };
    }

    case 'reply': {
      if (!isOpen(run.status)) return ignore(run, at, `run is ${lower(run.status)}`);
      const action = input.primary ? sequence.primaryReplyAction : sequence.secondaryReplyAction;
      const pauseSeconds = (input.primary ? sequence.primaryReplyPauseSeconds : sequence.secondaryReplyPauseSeconds) ?? 0;
      const reason = input.primary ? 'replied' : 'replied (secondary)';
      if (action === 'FINISH') return transition(run, sequence, at, 'COMPLETED', 'completed', reason);
      if (action === 'PAUSE' && run.status !== 'PAUSED') {
        const until = new Date(at.getTime() + pauseSeconds * 1000);
        return { ...transition(run, sequence, at, 'PAUSED', 'paused', reason, { pausedUntil: until }), pauseTimeout: until };
      }
      return ignore(run, at, `reply action ${lower(action)}`);
    }

    case 'pauseTimeout': {
      // Only a run still paused by that reply finishes (resumed or paused again since: not this timer's).
      if (run.status !== 'PAUSED' || run.pausedUntil?.getTime() !== input.pausedUntil.getTime()) {
        return ignore(run, at, 'no longer paused by this reply');
      }
      return transition(run, sequence, at, 'COMPLETED', 'completed', 'reply pause ended');
    }

    case 'sequenceEnabled': {
      if (run.status !== 'ACTIVE') return ignore(run, at, `run is ${lower(run.status)}`);
      const step = sequence.steps.find((s) => s.position === run.currentStepPosition);
      if (!step) return ignore(run, at, 'no current step');
      // The run's timeline stood still while disabled: a step that fell due goes out once, now.
      // A run that still has its job gets a second one; the later finds the step done and skips.
      const due = new Date(Math.max(at.getTime(), run.nextTriggerAt?.getTime() ?? 0));
      return { ...base(run, at), outcome: 'rescheduled', schedule: { stepId: step.id, at: due } };
    }
  }
}

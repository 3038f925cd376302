// A run simulated on a virtual clock: the engine's own START decision and run
// machine (./run-machine), fed the inputs the engine would feed them, in time
// order, with no I/O. An event loop over a queue of virtual times (due steps,
// reply-pause timers, throttle releases at the day roll-over, and the script of
// happenings) turns each decision into timeline entries. Rendering the emails is
// the caller's (src/services/simulate.ts), through the mail layer.
//
// Order at equal times: happenings first (in the order given), then the engine's
// own timers in the order they were set. A happening is an input here exactly as
// in the engine: a reply goes to the machine, an unsubscribe or bounce ends runs
// as domain/opt-out.ts says, other facts stop the run as domain/triggers.ts says.
import { optOutEndsRun, statusAfterOptOut, type OptOut } from './opt-out.js';
import { decide, ENDED_RUN_STATUSES, freshRun, type Decision, type MachineSequence, type RunFacts, type RunInput, type RunState, type RunStatus, type SubscriberStatus } from './run-machine/index.js';
import { decideStart, emptyStartFacts, nextDayStart, releasable, type StartFacts, type StartSequence } from './run-machine/start.js';
import { stopReason, type Fact } from './triggers.js';

export const HAPPENING_KINDS = ['EVENT', 'TAG_ADDED', 'TAG_REMOVED', 'LIST_ADDED', 'LIST_REMOVED', 'REPLY', 'UNSUBSCRIBE', 'BOUNCE'] as const;
export type HappeningKind = (typeof HAPPENING_KINDS)[number];

export const SIMULATED_OUTCOMES = ['STARTED', 'QUEUED', 'SENT', 'DEFERRED', 'SKIPPED', 'STOPPED', 'PAUSED', 'RESUMED', 'COMPLETED', 'FAILED'] as const;
export type SimulatedOutcome = (typeof SIMULATED_OUTCOMES)[number];

/** Something that happens to the subscriber at a virtual time. List IDs are row IDs. */
export interface Happening {
  at: Date;
  kind: HappeningKind;
  event?: string | null;
  tag?: string | null;
  listId?: string | null;
  /** REPLY: from the primary recipient (default) or someone else on the thread. */
  fromPrimary?: boolean | null;
}

export interface SimulationSequence {
  /** The machine's view; simulated as if ACTIVE whatever its status (a draft is simulated as it would run). */
  machine: MachineSequence;
  start: StartSequence;
  stopCondition: { type: string; value: string | null };
}

export interface SimulationInput {
  sequence: SimulationSequence;
  subscriber: { id: string; status: SubscriberStatus };
  startAt: Date;
  /** The entry event's name and properties (MATCHING_FIELD keys). */
  entry: { eventName: string | null; properties: Record<string, unknown> | null };
  /** What the START decision counts: the sequence's other runs (empty for an unsaved sequence). */
  startFacts?: StartFacts;
  /** Runs of the sequence QUEUED before this one: released first at each day roll-over. */
  queuedAhead?: number;
  /** DATE sequences: the run's date. */
  runDate?: Date | null;
  happenings: readonly Happening[];
}

/**
 * One entry of the timeline. Run-level entries (STARTED, QUEUED, STOPPED, PAUSED,
 * RESUMED, COMPLETED, and FAILED without a step) have no step; SENT, DEFERRED,
 * SKIPPED and a step's FAILED name it.
 */
export interface TimelineEntry {
  at: Date;
  outcome: SimulatedOutcome;
  stepId: string | null;
  position: number | null;
  reason: string | null;
  /** A SENT email: the latest CREATE_DISCOUNT step executed before it (its code shows in merge tags), and when. */
  discount: { stepId: string; at: Date } | null;
}

export interface SimulationResult {
  timeline: TimelineEntry[];
  /** The run's status when nothing is left to happen; null when the START decision refused it. */
  finalStatus: RunStatus | null;
  endedAt: Date | null;
  /** The START decision's refusal (ONE_TIME, ALREADY_ACTIVE, MAX_ACTIVATIONS…). */
  refused: { code: string; reason: string } | null;
}

type Item =
  | { kind: 'happening'; happening: Happening }
  | { kind: 'step'; stepId: string }
  | { kind: 'pauseTimeout'; pausedUntil: Date }
  | { kind: 'release' };

interface Queued {
  at: number;
  /** 0: a happening, 1: a timer of the engine. */
  rank: number;
  order: number;
  item: Item;
}

/** A queue ordered by (time, rank, order); binary insertion keeps it sorted (a run has few timers). */
class Agenda {
  private items: Queued[] = [];
  private counter = 0;

  push(at: Date, rank: number, item: Item) {
    const entry = { at: at.getTime(), rank, order: this.counter++, item };
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.items[mid]!;
      if (m.at < entry.at || (m.at === entry.at && (m.rank < entry.rank || (m.rank === entry.rank && m.order < entry.order)))) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, entry);
  }

  shift(): Queued | undefined {
    return this.items.shift();
  }
}

const OPT_OUTS: Partial<Record<HappeningKind, OptOut>> = { UNSUBSCRIBE: 'unsubscribed', BOUNCE: 'bounced' };

function factOf(h: Happening): Fact | null {
  switch (h.kind) {
    case 'EVENT':
      return { kind: 'event', name: h.event ?? '' };
    case 'TAG_ADDED':
      return { kind: 'tag_added', tag: h.tag ?? '' };
    case 'TAG_REMOVED':
      return { kind: 'tag_removed', tag: h.tag ?? '' };
    case 'LIST_ADDED':
      return { kind: 'list_added', listId: h.listId ?? '' };
    case 'LIST_REMOVED':
      return { kind: 'list_removed', listId: h.listId ?? '' };
    default:
      return null;
  }
}

/** The run-level outcome of a status change. */
function changeOutcome(previous: RunStatus, status: RunStatus): SimulatedOutcome | null {
  switch (status) {
    case 'ACTIVE':
      return previous === 'PAUSED' ? 'RESUMED' : 'STARTED';
    case 'CANCELLED':
    case 'STOPPED':
      return 'STOPPED';
    case 'QUEUED':
      return 'QUEUED';
    default:
      return status;
  }
}

/** Guard against a loop that never ends (every timer moves time forward or ends the run; this is a backstop). */
const MAX_DECISIONS = 100_000;

export function simulate(input: SimulationInput): SimulationResult {
  const machine: MachineSequence = { ...input.sequence.machine, status: 'ACTIVE' };
  const steps = new Map(machine.steps.map((s) => [s.id, s]));
  const facts: RunFacts = { runDate: input.runDate ?? null };
  const timeline: TimelineEntry[] = [];
  const agenda = new Agenda();
  let subscriberStatus = input.subscriber.status;
  let discount: TimelineEntry['discount'] = null;
  let queuedAhead = input.queuedAhead ?? 0;
  const startFacts = input.startFacts ?? emptyStartFacts();
  let inProgress = startFacts.inProgress;

  const entry = (at: Date, outcome: SimulatedOutcome, reason: string | null, stepId: string | null = null): TimelineEntry => {
    const e = { at, outcome, stepId, position: stepId ? (steps.get(stepId)?.position ?? null) : null, reason, discount: null };
    timeline.push(e);
    return e;
  };

  // The START decision, as the engine asks it when the trigger fires.
  const start = decideStart(
    input.sequence.start,
    { subscriberId: input.subscriber.id, eventName: input.entry.eventName, properties: input.entry.properties },
    startFacts,
  );
  if (start.kind === 'refuse') return { timeline, finalStatus: null, endedAt: null, refused: { code: start.code, reason: start.reason } };

  let run: RunState = freshRun('simulated', input.startAt);
  let endedAt: Date | null = null;

  /** Follows a decision: the run's new state, its timers, and the entries it makes. */
  const follow = (d: Decision) => {
    if (d.outcome === 'ignored' || d.outcome === 'refused') return;
    run = d.next;
    if (d.schedule) agenda.push(d.schedule.at, 1, { kind: 'step', stepId: d.schedule.stepId });
    if (d.pauseTimeout) agenda.push(d.pauseTimeout, 1, { kind: 'pauseTimeout', pausedUntil: d.pauseTimeout });
    const action = d.action;
    if (d.outcome === 'deferred' && d.schedule) entry(d.at, 'DEFERRED', `${d.reason}; opens at ${d.schedule.at.toISOString()}`, d.schedule.stepId);
    if (action?.kind === 'skip') entry(d.at, 'SKIPPED', action.reason, action.stepId);
    if (action?.kind === 'fail') entry(d.at, 'FAILED', action.error, action.stepId);
    for (const change of d.changes) {
      if (action?.kind === 'fail' && change.status === 'FAILED') continue;
      const outcome = changeOutcome(change.previousStatus, change.status);
      if (outcome) entry(d.at, outcome, change.reason);
    }
    if (ENDED_RUN_STATUSES.includes(run.status)) endedAt ??= d.at;
  };

  const apply = (input: RunInput, at: Date) => follow(decide(run, machine, input, at, facts));

  if (start.status === 'QUEUED') {
    run = { ...run, status: 'QUEUED' };
    entry(input.startAt, 'QUEUED', start.reason);
    if (start.code === 'THROTTLE_DAILY_LIMIT') agenda.push(nextDayStart(input.startAt), 1, { kind: 'release' });
  } else {
    entry(input.startAt, 'STARTED', null);
    apply({ kind: 'begin' }, input.startAt);
  }
  for (const happening of input.happenings) agenda.push(happening.at, 0, { kind: 'happening', happening });

  let clock = input.startAt.getTime();
  for (let n = 0; n < MAX_DECISIONS && !endedAt; n++) {
    const next = agenda.shift();
    if (!next) break;
    // The virtual clock never goes back: a timer set in the past (a DATE step whose time had passed) fires now, as a due job does.
    const at = new Date(Math.max(next.at, clock));
    clock = at.getTime();
    const item = next.item;
    switch (item.kind) {
      case 'step': {
        const decision = decide(run, machine, { kind: 'stepDue', stepId: item.stepId, alreadyRun: false, subscriberStatus }, at, facts);
        follow(decision);
        const action = decision.action;
        if (action?.kind === 'send' || action?.kind === 'discount') {
          // Executed at once on the virtual clock: handed over, then the run moves on.
          const sent = entry(at, 'SENT', action.kind === 'discount' ? 'discount created' : null, action.stepId);
          if (action.kind === 'discount') discount = { stepId: action.stepId, at };
          else sent.discount = discount;
          apply({ kind: 'stepDone', stepId: action.stepId }, at);
        }
        break;
      }
      case 'pauseTimeout':
        apply({ kind: 'pauseTimeout', pausedUntil: item.pausedUntil }, at);
        break;
      case 'release': {
        // The day rolled over: the runs queued earlier start first (oldest first, as the engine releases them).
        if (run.status !== 'QUEUED') break;
        const room = releasable(input.sequence.start, { inProgress, begunToday: 0 });
        if (room > queuedAhead) {
          apply({ kind: 'begin' }, at);
          break;
        }
        queuedAhead -= room;
        // They stay in progress as far as the simulation knows (when they end is not known).
        inProgress += room;
        // Another day, unless nothing can start until a run ends (capacity) or the throttle is relaxed.
        if (room > 0) agenda.push(nextDayStart(at), 1, { kind: 'release' });
        break;
      }
      case 'happening': {
        const h = item.happening;
        const optOut = OPT_OUTS[h.kind];
        if (optOut) {
          if (subscriberStatus === 'ACTIVE' || optOut === 'bounced') subscriberStatus = statusAfterOptOut(optOut);
          if (optOutEndsRun(optOut, machine)) apply({ kind: 'stop', reason: optOut }, at);
        } else if (h.kind === 'REPLY') {
          apply({ kind: 'reply', primary: h.fromPrimary !== false }, at);
        } else {
          const reason = stopReason(input.sequence.stopCondition.type, input.sequence.stopCondition.value, [factOf(h)!]);
          if (reason) apply({ kind: 'stop', reason }, at);
        }
        break;
      }
    }
  }
  return { timeline, finalStatus: run.status, endedAt, refused: null };
}

// The START decision: whether a trigger that fired starts a run (ACTIVE), lets it
// wait for a throttle (QUEUED), or is refused with a code. Pure: the engine loads
// the facts in bulk (runs of the sequence, keys already open, counts for the
// limits), asks here for each request in order, and writes the decisions in bulk.
import { enrollmentKey, keySources, type EnrollmentMode } from '../enrollment-key.js';

export interface StartSequence {
  id: string;
  enrollmentMode: EnrollmentMode;
  enrollmentFieldPath: string | null;
  triggerEventName: string | null;
  maxActivations: number | null;
  throttleCapacity: number | null;
  throttleMaxAddsPerDay: number | null;
  throttlePaused: boolean;
}

export interface StartRequest {
  subscriberId: string;
  /** The event that fired the trigger (its name and properties), if any. */
  eventName?: string | null;
  properties?: Record<string, unknown> | null;
  idempotencyKey?: string | null;
}

/**
 * What the engine knows about one sequence before deciding, loaded for every
 * request of a batch at once. `recordStart` applies each start to it, so the
 * next request of the same batch sees the runs started before it.
 */
export interface StartFacts {
  /** All runs of the sequence ever started (for maxActivations). */
  runs: number;
  /** Runs ACTIVE or PAUSED (for throttleCapacity). */
  inProgress: number;
  /** Runs that became ACTIVE since the start of the UTC day (for throttleMaxAddsPerDay). */
  begunToday: number;
  /** Subscribers who ever had a run of the sequence (for ONE_TIME). */
  ranBefore: Set<string>;
  /** Open runs by `openKeyOf(subscriberId, key)` (for MATCHING_FIELD). */
  openKeys: Map<string, string>;
  /** Runs by idempotency key. */
  idempotent: Map<string, string>;
}

export type RefusalCode = 'DUPLICATE' | 'ONE_TIME' | 'NO_ENROLLMENT_KEY' | 'ALREADY_ACTIVE' | 'MAX_ACTIVATIONS';
export type QueueCode = 'THROTTLE_PAUSED' | 'THROTTLE_CAPACITY' | 'THROTTLE_DAILY_LIMIT';

export type StartDecision =
  | { kind: 'start'; status: 'ACTIVE'; enrollmentKey: string | null }
  | { kind: 'start'; status: 'QUEUED'; enrollmentKey: string | null; code: QueueCode; reason: string }
  | { kind: 'refuse'; code: RefusalCode; reason: string; enrollmentId?: string };

export function openKeyOf(subscriberId: string, key: string): string {
  return `${subscriberId}\u0000${key}`;
}

export function emptyStartFacts(): StartFacts {
  return { runs: 0, inProgress: 0, begunToday: 0, ranBefore: new Set(), openKeys: new Map(), idempotent: new Map() };
}

/** The MATCHING_FIELD key of a request (null for other modes, or when the event has none). */
export function requestKey(sequence: StartSequence, request: StartRequest): string | null {
  if (sequence.enrollmentMode !== 'MATCHING_FIELD') return null;
  return enrollmentKey({
    eventName: request.eventName ?? sequence.triggerEventName ?? '',
    fieldPath: sequence.enrollmentFieldPath,
    properties: request.properties ?? {},
  });
}

/** Whether any of the sequence's limits needs counts. */
export function hasLimits(sequence: StartSequence): boolean {
  return sequence.maxActivations != null || sequence.throttleCapacity != null || sequence.throttleMaxAddsPerDay != null;
}

/** Midnight UTC of `at`: the daily limit counts runs begun since then. */
export function dayStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

/** The next UTC midnight after `at`: when the daily limit counts afresh and queued runs are released (engine/release-queued.ts). */
export function nextDayStart(at: Date): Date {
  return new Date(dayStart(at).getTime() + 86_400_000);
}

/** Why a run that would start must wait, or null when a throttle has room. */
export function throttleHold(sequence: StartSequence, facts: Pick<StartFacts, 'inProgress' | 'begunToday'>): { code: QueueCode; reason: string } | null {
  if (sequence.throttlePaused) return { code: 'THROTTLE_PAUSED', reason: 'The sequence’s throttle is paused: the run waits as QUEUED' };
  if (sequence.throttleCapacity != null && facts.inProgress >= sequence.throttleCapacity) {
    return { code: 'THROTTLE_CAPACITY', reason: `The sequence has ${sequence.throttleCapacity} runs in progress: the run waits as QUEUED` };
  }
  if (sequence.throttleMaxAddsPerDay != null && facts.begunToday >= sequence.throttleMaxAddsPerDay) {
    return { code: 'THROTTLE_DAILY_LIMIT', reason: `The sequence started ${sequence.throttleMaxAddsPerDay} runs today: the run waits as QUEUED` };
  }
  return null;
}

/**
 * How many queued runs may start now, oldest first (the release at a day roll-over,
 * when capacity frees, when throttles are relaxed): none while the throttle is
 * paused, else as many as the capacity and the day's limit leave room for. The
 * engine's release and the simulation both count here; it agrees with throttleHold.
 */
export function releasable(sequence: StartSequence, counts: Pick<StartFacts, 'inProgress' | 'begunToday'>): number {
  if (sequence.throttlePaused) return 0;
  let room = Number.POSITIVE_INFINITY;
  if (sequence.throttleCapacity != null) room = Math.min(room, sequence.throttleCapacity - counts.inProgress);
  if (sequence.throttleMaxAddsPerDay != null) room = Math.min(room, sequence.throttleMaxAddsPerDay - counts.begunToday);
  return Math.max(0, room);
}

/** Decides one request against the facts (the rules in the order they apply). */
export function decideStart(sequence: StartSequence, request: StartRequest, facts: StartFacts): StartDecision {
  const idempotencyKey = request.idempotencyKey ?? null;
  if (idempotencyKey) {
    const earlier = facts.idempotent.get(idempotencyKey);
    if (earlier) return { kind: 'refuse', code: 'DUPLICATE', reason: 'A run was already started with this idempotency key', enrollmentId: earlier };
  }
  let key: string | null = null;
  if (sequence.enrollmentMode === 'ONE_TIME') {
    if (facts.ranBefore.has(request.subscriberId)) return { kind: 'refuse', code: 'ONE_TIME', reason: 'The subscriber already ran this one-time sequence' };
  } else if (sequence.enrollmentMode === 'MATCHING_FIELD') {
    key = requestKey(sequence, request);
    if (key === null) {
      return { kind: 'refuse', code: 'NO_ENROLLMENT_KEY', reason: `The event has no enrollment key (looked at ${keySources(sequence.enrollmentFieldPath)})` };
    }
    const open = facts.openKeys.get(openKeyOf(request.subscriberId, key));
    if (open) return { kind: 'refuse', code: 'ALREADY_ACTIVE', reason: `The subscriber already has an active run for ${key}`, enrollmentId: open };
  }
  if (sequence.maxActivations != null && facts.runs >= sequence.maxActivations) {
    return { kind: 'refuse', code: 'MAX_ACTIVATIONS', reason: `The sequence reached its maximum of ${sequence.maxActivations} runs` };
  }
  const hold = throttleHold(sequence, facts);
  return hold ? { kind: 'start', status: 'QUEUED', enrollmentKey: key, ...hold } : { kind: 'start', status: 'ACTIVE', enrollmentKey: key };
}

/**
 * Applies a start to the facts, so the next request of the batch sees it; a
 * refusal changes nothing. Updates `facts` in place (a batch of 1,000 starts
 * would otherwise copy its sets 1,000 times) and returns it.
 */
export function recordStart(facts: StartFacts, request: StartRequest, decision: StartDecision, enrollmentId: string): StartFacts {
  if (decision.kind !== 'start') return facts;
  facts.runs += 1;
  if (decision.status === 'ACTIVE') {
    facts.inProgress += 1;
    facts.begunToday += 1;
  }
  facts.ranBefore.add(request.subscriberId);
  if (decision.enrollmentKey !== null) facts.openKeys.set(openKeyOf(request.subscriberId, decision.enrollmentKey), enrollmentId);
  if (request.idempotencyKey) facts.idempotent.set(request.idempotencyKey, enrollmentId);
  return facts;
}

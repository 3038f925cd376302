// simulateSequence: a dry run of one subscriber through one sequence on a virtual
// clock. Reads (the saved sequence, the subscriber, the sequence's run counts for
// its limits), then the pure simulation (domain/simulation.ts: the engine's own
// START decision and run machine), then each email rendered by the sender's own
// renderer (mail/tracked-email.ts) with a stand-in message's tracking links and
// placeholder discount codes. Writes nothing, sends nothing, creates no job.
import { z } from 'zod';
import type { Actor, Caller } from '../auth/actor.js';
import type { Db } from '../db/client.js';
import { owned, ownedMany, scopeWhere } from '../db/scope.js';
import { defaultEnrollmentMode, type EnrollmentMode } from '../domain/enrollment-key.js';
import { notFound, UserError } from '../domain/errors.js';
import { importHtml } from '../domain/html-import.js';
import { addIsoDuration, parseIsoDuration } from '../domain/iso-duration.js';
import { boundedJson } from '../domain/json-limits.js';
import type { MergeTagContext } from '../domain/merge-tags.js';
import { placeholderDiscount } from '../domain/placeholder-discount.js';
import { toMachineSequence, type StepTimingRow } from '../domain/run-machine/from-rows.js';
import { emptyStartFacts, requestKey, type StartFacts, type StartSequence } from '../domain/run-machine/start.js';
import { canonicalTimeZone, sequenceRunDate } from '../domain/schedule.js';
import { createSequenceSchema, type DiscountTerms } from '../domain/sequence-input.js';
import { HAPPENING_KINDS, simulate, type Happening, type SimulatedOutcome, type SimulationSequence, type TimelineEntry } from '../domain/simulation.js';
import { tryDecodeId } from '../domain/public-id.js';
import { PREVIEW_MESSAGE_ID } from '../domain/tracking-links.js';
import { loadStartFacts } from '../engine/start-run.js';
import type { Sequence, Step } from '../generated/prisma/client.js';
import { renderTrackedStep } from '../mail/tracked-email.js';
import { subscriberInputSchema } from './audience.js';
import { parseInput, UserErrors } from './user-input.js';

export const MAX_HAPPENINGS = 1000;
const INPUT = ['input'];
/** An inline subscriber has no row: an id no run can have. */
const INLINE_SUBSCRIBER = '00000000-0000-0000-0000-000000000000';

/** `fn` run at most once: its promise is shared by every caller (each field of one email). */
const once = <T>(fn: () => Promise<T>): (() => Promise<T>) => {
  let result: Promise<T> | undefined;
  return () => (result ??= fn());
};

const jsonObject = boundedJson(z.record(z.string(), z.json(), { message: 'must be a JSON object' }));
const word = (max: number) => z.string().trim().min(1, { message: 'must not be empty' }).max(max);

const happeningSchema = z
  .object({
    at: z.date().nullish(),
    after: z.string().nullish(),
    kind: z.enum(HAPPENING_KINDS),
    event: word(200).nullish(),
    properties: jsonObject.nullish(),
    tag: word(100).nullish(),
    listId: z.string().nullish(),
    sentiment: z.enum(['POSITIVE', 'NEUTRAL', 'NEGATIVE']).nullish(),
    fromPrimary: z.boolean().nullish(),
  })
  .superRefine((h, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if ((h.at == null) === (h.after == null)) issue('at', 'give at or after, not both or neither');
    if (h.after != null && !parseIsoDuration(h.after)) issue('after', 'must be an ISO 8601 duration such as "P2DT3H"');
    const needs = { EVENT: 'event', TAG_ADDED: 'tag', TAG_REMOVED: 'tag', LIST_ADDED: 'listId', LIST_REMOVED: 'listId' } as const;
    const needed = needs[h.kind as keyof typeof needs];
    if (needed && h[needed] == null) issue(needed, `is required for ${h.kind}`);
  });

const simulateSchema = z.object({
  sequenceId: z.string().nullish(),
  sequence: z.unknown().nullish(),
  subscriberId: z.string().nullish(),
  subscriber: subscriberInputSchema.nullish(),
  timeZone: z
    .string()
    .nullish()
    .refine((zone) => zone == null || canonicalTimeZone(zone) !== null, 'must be an IANA time zone such as "Europe/Paris"'),
  event: word(200).nullish(),
  properties: jsonObject.nullish(),
  startAt: z.date().nullish(),
  happenings: z.array(happeningSchema).max(MAX_HAPPENINGS, { message: `must hold at most ${MAX_HAPPENINGS.toLocaleString('en')} happenings` }).nullish(),
});
type SimulateInput = z.output<typeof simulateSchema>;

/** What an email step needs to render, and the step row of a saved sequence (null for an unsaved one). */
interface StepContent {
  row: Step | null;
  /** A saved step's id (its compiled template is cached under it). */
  id?: string;
  subject: string | null;
  previewText: string | null;
  blocks: unknown;
  discount: DiscountTerms | null;
}

interface Loaded {
  sequence: SimulationSequence;
  steps: Map<string, StepContent>;
  triggerEventName: string | null;
  sequenceType: string;
  dateFieldPath: string | null;
  /** The saved row (its runs count for ONE_TIME, MATCHING_FIELD and the limits). */
  saved: Sequence | null;
}

export interface RenderedSend {
  subject: string;
  previewText: string | null;
  html: string;
  text: string;
}

export interface SimulatedStepResult {
  at: Date;
  outcome: SimulatedOutcome;
  step: Step | null;
  position: number | null;
  reason: string | null;
  /** A SENT email as it would go out; rendered on first ask (a timeline-only query renders nothing). Null for other entries. */
  email: (() => Promise<RenderedSend>) | null;
}

export interface SimulationOutput {
  timeline: SimulatedStepResult[];
  finalStatus: string | null;
  endedAt: Date | null;
}

const startSequenceOf = (s: Pick<Sequence, 'id' | 'enrollmentFieldPath' | 'triggerEventName' | 'maxActivations' | 'throttleCapacity' | 'throttleMaxAddsPerDay' | 'throttlePaused'> & { enrollmentMode: string }): StartSequence => ({
  id: s.id,
  enrollmentMode: s.enrollmentMode as EnrollmentMode,
  enrollmentFieldPath: s.enrollmentFieldPath,
  triggerEventName: s.triggerEventName,
  maxActivations: s.maxActivations,
  throttleCapacity: s.throttleCapacity,
  throttleMaxAddsPerDay: s.throttleMaxAddsPerDay,
  throttlePaused: s.throttlePaused,
});

/** A saved sequence (a draft included), by the caller's workspace only. */
async function loadSaved(actor: Caller, sequenceId: string): Promise<Loaded> {
  // The steps are read beside the sequence (scoped to the workspace too): one round trip.
  const uuid = tryDecodeId('Sequence', sequenceId);
  const [row, steps] = await Promise.all([
    owned(actor.runtime.db, actor, 'Sequence', sequenceId, { field: [...INPUT, 'sequenceId'] }),
    uuid ? actor.runtime.db.step.findMany({ where: { sequenceId: uuid, ...scopeWhere('Step', actor.workspaceId), position: { not: null } }, orderBy: { position: 'asc' } }) : [],
  ]);
  return {
    sequence: {
      machine: toMachineSequence(row, steps as (Step & { position: number })[]),
      start: startSequenceOf(row),
      stopCondition: { type: row.stopConditionType, value: row.stopConditionValue },
    },
    steps: new Map(steps.map((s) => [s.id, { row: s, id: s.id, subject: s.subject, previewText: s.previewText, blocks: s.blocks, discount: s.discount as unknown as DiscountTerms | null }])),
    triggerEventName: row.triggerEventName,
    sequenceType: row.sequenceType,
    dateFieldPath: row.dateFieldPath,
    saved: row,
  };
}

/** An unsaved sequence: createSequence's validation (and its workspace references), nothing written. */
async function loadUnsaved(actor: Caller, raw: unknown): Promise<Loaded> {
  const path = [...INPUT, 'sequence'];
  const input = parseInput(createSequenceSchema, raw, path);
  if (input.goal != null) throw new UserError('A goal is drafted by a writer after the sequence is saved: give steps to simulate', [...path, 'goal'], 'VALIDATION');
  if (input.listId) await owned(actor.runtime.db, actor, 'List', input.listId, { field: [...path, 'listId'] });
  if (input.segmentId) await owned(actor.runtime.db, actor, 'Segment', input.segmentId, { field: [...path, 'segmentId'] });
  const stop = input.stopCondition;
  if (stop.type.endsWith('_LIST') && stop.value) await owned(actor.runtime.db, actor, 'List', stop.value, { field: [...path, 'stopCondition', 'value'] });
  const defs = input.steps ?? [];
  // As in createSequence: a new sequence has no steps for an ID to name.
  const named = defs.findIndex((s) => s.id != null);
  if (named >= 0) throw notFound('Step', [...path, 'steps', String(named), 'id']);
  const timings: StepTimingRow[] = defs.map((s, i) => ({
    id: `step-${i + 1}`,
    position: i + 1,
    type: s.type,
    delayDays: s.delay.days,
    delayHours: s.delay.hours,
    delayMinutes: s.delay.minutes,
    dateOffsetMinutes: s.dateOffset ?? null,
  }));
  const id = 'unsaved';
  const settings = {
    id,
    status: 'DRAFT' as const,
    sequenceType: input.sequenceType,
    dateFieldPath: input.dateFieldPath ?? null,
    sendWindow: input.sendWindow ?? null,
    transactional: input.transactional,
    primaryReplyAction: input.primaryReplyAction,
    primaryReplyPauseDuration: input.primaryReplyPauseDuration ?? null,
    secondaryReplyAction: input.secondaryReplyAction,
    secondaryReplyPauseDuration: input.secondaryReplyPauseDuration ?? null,
    throttleCapacity: input.throttleCapacity ?? null,
  };
  return {
    sequence: {
      machine: toMachineSequence(settings, timings),
      start: startSequenceOf({
        id,
        enrollmentMode: input.enrollmentMode ?? defaultEnrollmentMode(input.trigger, input.eventName),
        enrollmentFieldPath: input.enrollmentFieldPath ?? null,
        triggerEventName: input.eventName ?? null,
        maxActivations: input.maxActivations ?? null,
        throttleCapacity: input.throttleCapacity ?? null,
        throttleMaxAddsPerDay: input.throttleMaxAddsPerDay ?? null,
        throttlePaused: input.throttlePaused,
      }),
      stopCondition: { type: stop.type, value: stop.value ?? null },
    },
    steps: new Map(
      defs.map((s, i) => [
        timings[i]!.id,
        {
          row: null,
          subject: s.subject ?? null,
          previewText: s.previewText ?? null,
          // As replaceSteps stores it: imported HTML becomes blocks.
          blocks: s.type === 'EMAIL' ? (s.blocks ?? importHtml(s.html!)) : null,
          discount: s.discount ?? null,
        },
      ]),
    ),
    triggerEventName: input.eventName ?? null,
    sequenceType: input.sequenceType,
    dateFieldPath: input.dateFieldPath ?? null,
    saved: null,
  };
}

/** What the START decision counts for a saved sequence (its other runs), and the runs queued before this one. */
async function loadCounts(db: Db, loaded: Loaded, subscriberId: string, eventName: string | null, properties: Record<string, unknown> | null, at: Date) {
  const saved = loaded.saved;
  if (!saved) return { startFacts: emptyStartFacts(), queuedAhead: 0 };
  const request = { subscriberId, eventName, properties, idempotencyKey: null };
  const facts = await loadStartFacts(db, [{ input: { sequence: saved, subscriberId }, request, key: requestKey(loaded.sequence.start, request) }], [saved], at);
  const queuedAhead = saved.throttleMaxAddsPerDay == null ? 0 : await queuedRuns(db, saved.id);
  return { startFacts: facts.get(saved.id) as StartFacts, queuedAhead };
}

/** The sequence's queued runs (the status as a literal: the (sequenceId, status) index holds open runs only). */
async function queuedRuns(db: Db, sequenceId: string): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "Enrollment" WHERE "sequenceId" = ${sequenceId}::uuid AND status = 'QUEUED'`;
  return row?.n ?? 0;
}

/** The subscriber as stored, or as given inline (its lists must be this workspace's), or a stand-in. */
async function loadSubscriber(actor: Caller, input: Pick<SimulateInput, 'subscriberId' | 'subscriber'>) {
  if (input.subscriberId != null) {
    const row = await owned(actor.runtime.db, actor, 'Subscriber', input.subscriberId, { field: [...INPUT, 'subscriberId'] });
    const person = { email: row.email, firstName: row.firstName, lastName: row.lastName, attributes: (row.attributes ?? {}) as Record<string, unknown> };
    return { id: row.id, status: row.status as string, person };
  }
  const s = input.subscriber;
  if (s) await ownedMany(actor.runtime.db, actor, 'List', s.listIds ?? [], [...INPUT, 'subscriber', 'listIds']);
  const person: MergeTagContext['subscriber'] = s
    ? { email: s.email, firstName: s.firstName ?? null, lastName: s.lastName ?? null, attributes: s.attributes ?? {} }
    : { email: 'subscriber@example.com', firstName: null, lastName: null, attributes: {} };
  return { id: INLINE_SUBSCRIBER, status: 'ACTIVE', person };
}

/** The happenings at their times, lists named by row id as the engine's facts name them (this workspace's, in one query). */
async function loadHappenings(actor: Caller, raw: SimulateInput['happenings'] & {}, times: Date[]): Promise<Happening[]> {
  const withList = raw.flatMap((h, i) => (h.listId != null ? [i] : []));
  let rowIds: string[] = [];
  try {
    rowIds = await ownedMany(actor.runtime.db, actor, 'List', withList.map((i) => raw[i]!.listId!), []);
  } catch (error) {
    // ownedMany names the index among the lists given: point at the happening instead.
    if (!(error instanceof UserError)) throw error;
    throw notFound('List', [...INPUT, 'happenings', String(withList[Number(error.field[0])]), 'listId']);
  }
  const listOf = new Map(withList.map((i, k) => [i, rowIds[k]!]));
  return raw.map((h, i) => ({ at: times[i]!, kind: h.kind, event: h.event ?? null, tag: h.tag ?? null, listId: listOf.get(i) ?? null, fromPrimary: h.fromPrimary ?? null }));
}

export async function simulateSequence(actor: Caller, rawInput: unknown): Promise<SimulationOutput> {
  const input = parseInput(simulateSchema, rawInput, INPUT);
  const mistakes: UserError[] = [];
  const both = (a: string, b: string) => mistakes.push(new UserError(`Give ${a} or ${b}, not both`, [...INPUT, b], 'VALIDATION'));
  if (input.sequenceId != null && input.sequence != null) both('sequenceId', 'sequence');
  if (input.sequenceId == null && input.sequence == null) mistakes.push(new UserError('Give sequenceId or sequence', [...INPUT, 'sequenceId'], 'VALIDATION'));
  if (input.subscriberId != null && input.subscriber != null) both('subscriberId', 'subscriber');
  const startAt = input.startAt ?? actor.runtime.clock.now();
  const rawHappenings = input.happenings ?? [];
  const times = rawHappenings.map((h, i) => {
    const at = h.at ?? addIsoDuration(startAt, parseIsoDuration(h.after!)!);
    const field = [...INPUT, 'happenings', String(i), h.at ? 'at' : 'after'];
    if (!at) mistakes.push(new UserError('is too far from startAt', field, 'VALIDATION'));
    else if (at < startAt) mistakes.push(new UserError(`is before the start (${startAt.toISOString()})`, field, 'VALIDATION'));
    return at;
  });
  if (mistakes.length) throw new UserErrors(mistakes);

  // The reads are independent: one round trip's time, not four.
  const [loaded, subscriber, happenings] = await Promise.all([
    input.sequenceId != null ? loadSaved(actor, input.sequenceId) : loadUnsaved(actor, input.sequence),
    loadSubscriber(actor, input),
    loadHappenings(actor, rawHappenings, times as Date[]),
  ]);
  const { id: subscriberId, status, person } = subscriber;

  const eventName = input.event ?? loaded.triggerEventName;
  const properties = input.properties ?? null;
  const counts = await loadCounts(actor.runtime.db, loaded, subscriberId, eventName, properties, startAt);
  const result = simulate({
    sequence: loaded.sequence,
    subscriber: { id: subscriberId, status },
    startAt,
    entry: { eventName, properties },
    ...counts,
    runDate: sequenceRunDate({ sequenceType: loaded.sequenceType, dateFieldPath: loaded.dateFieldPath }, properties, person.attributes),
    happenings,
  });
  if (result.refused) {
    // The field the refusal is about: the entry event's key, the subscriber's earlier runs, or the sequence's limit.
    const field = result.refused.code === 'NO_ENROLLMENT_KEY' ? 'properties' : result.refused.code === 'MAX_ACTIVATIONS' || input.subscriberId == null ? 'sequenceId' : 'subscriberId';
    throw new UserError(result.refused.reason, [...INPUT, field], result.refused.code);
  }

  const transactional = loaded.sequence.machine.transactional;
  const render = (content: StepContent, discountRef: TimelineEntry['discount']) => async (): Promise<RenderedSend> => {
    const discountStep = discountRef && loaded.steps.get(discountRef.stepId);
    const discount = discountStep?.discount ? placeholderDiscount(discountStep.discount, discountRef!.at) : null;
    // Tracked as the sender tracks it, for a stand-in message: its links record nothing and never redirect.
    const { headers: _headers, ...rendered } = await renderTrackedStep(content, {
      context: { subscriber: person, event: properties, discount },
      transactional,
      workspaceId: actor.workspaceId,
      messageId: PREVIEW_MESSAGE_ID,
      keys: await actor.runtime.tracking.keys(),
    });
    return rendered;
  };
  const timeline = result.timeline.map((entry): SimulatedStepResult => {
    const content = entry.stepId ? loaded.steps.get(entry.stepId)! : null;
    const email = entry.outcome === 'SENT' && content && !content.discount ? once(render(content, entry.discount)) : null;
    return { at: entry.at, outcome: entry.outcome, step: content?.row ?? null, position: entry.position, reason: entry.reason, email };
  });
  return { timeline, finalStatus: result.finalStatus, endedAt: result.endedAt };
}

// simulateSequence: a dry run on a virtual clock (services/simulate.ts). The
// timeline's format is documented in the README ("Simulating a sequence"): the
// test-clock comparison relies on it staying deterministic.
import { HAPPENING_KINDS, SIMULATED_OUTCOMES } from '../../domain/simulation.js';
import { MAX_HAPPENINGS, simulateSequence, type SimulatedStepResult, type SimulationOutput } from '../../services/simulate.js';
import { builder } from '../builder.js';
import { EnrollmentStatusEnum, ReplySentimentEnum } from './enums.js';
import { CreateSequenceInput } from './sequence.js';
import { StepRef } from './step.js';
import { SubscriberInput } from './subscriber.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const HappeningKindEnum = builder.enumType('HappeningKind', { values: HAPPENING_KINDS });
const SimulatedOutcomeEnum = builder.enumType('SimulatedOutcome', { values: SIMULATED_OUTCOMES });

const HappeningInput = builder.inputType('HappeningInput', {
  description: 'Something that happens to the subscriber during the simulation, at a time or after a duration from startAt.',
  fields: (t) => ({
    at: t.field({ type: 'DateTime', description: 'When (not before startAt); or:' }) ,
    after: t.string({ description: 'ISO 8601 duration from startAt, e.g. "P2DT3H"' }),
    kind: t.field({ type: HappeningKindEnum, required: true }),
    event: t.string({ description: 'EVENT: its name' }),
    properties: t.field({ type: 'JSON', description: 'EVENT: its properties' }),
    tag: t.string({ description: 'TAG_ADDED, TAG_REMOVED' }),
    listId: t.id({ description: 'LIST_ADDED, LIST_REMOVED' }),
    sentiment: t.field({ type: ReplySentimentEnum, description: 'REPLY' }),
    fromPrimary: t.boolean({ description: 'REPLY: from the subscriber (default) or someone else on the thread (the secondary reply action)' }),
  }),
});

const SimulateSequenceInput = builder.inputType('SimulateSequenceInput', {
  fields: (t) => ({
    sequenceId: t.id({ description: 'A saved sequence (a draft too); or:' }),
    sequence: t.field({ type: CreateSequenceInput, description: 'An unsaved one (validated as createSequence validates it; nothing is written)' }),
    subscriberId: t.id({ description: 'An existing subscriber; or:' }),
    subscriber: t.field({ type: SubscriberInput, description: 'An inline one (nothing is written). Neither: a stand-in subscriber@example.com' }),
    timeZone: t.string({ description: "The subscriber's IANA zone. Validated; sends are timed in the send window's own zone" }),
    event: t.string({ description: "The entry event's name (default: the trigger's)" }),
    properties: t.field({ type: 'JSON', description: "The entry event's properties ({{event.…}} merge tags, enrollment keys, DATE sequences' dates)" }),
    startAt: t.field({ type: 'DateTime', description: 'When the run starts (default: now)' }),
    happenings: t.field({ type: [HappeningInput], description: `At most ${MAX_HAPPENINGS.toLocaleString('en')}` }),
  }),
});

const SimulatedStepRef = builder.objectRef<SimulatedStepResult>('SimulatedStep').implement({
  description: 'One decision of the simulated run, in order (see the README, "Simulating a sequence").',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime', description: 'Virtual time' }),
    outcome: t.field({ type: SimulatedOutcomeEnum, resolve: (s) => s.outcome }),
    step: t.field({ type: StepRef, nullable: true, description: 'A saved sequence’s step (null for an unsaved sequence and run-level entries)', resolve: (s) => s.step }),
    position: t.exposeInt('position', { nullable: true }),
    reason: t.exposeString('reason', { nullable: true }),
    // A SENT email's content, rendered once when one of these is asked for.
    subject: t.string({ nullable: true, resolve: async (s) => (await s.email?.())?.subject ?? null }),
    previewText: t.string({ nullable: true, resolve: async (s) => (await s.email?.())?.previewText ?? null }),
    html: t.string({
      nullable: true,
      description: 'As sent, with a stand-in message’s tracking links (they never redirect) and placeholder discount codes',
      resolve: async (s) => (await s.email?.())?.html ?? null,
    }),
    text: t.string({ nullable: true, resolve: async (s) => (await s.email?.())?.text ?? null }),
  }),
});

const SimulationPayload = builder.objectRef<Partial<SimulationOutput> & { errors: UserErrorShape[] }>('SimulationPayload').implement({
  fields: (t) => ({
    timeline: t.field({ type: [SimulatedStepRef], resolve: (p) => p.timeline ?? [] }),
    finalStatus: t.field({ type: EnrollmentStatusEnum, nullable: true, description: 'When nothing is left to happen', resolve: (p) => (p.finalStatus ?? null) as never }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.endedAt ?? null }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

builder.mutationFields((t) => ({
  simulateSequence: t.field({
    type: SimulationPayload,
    description: "A dry run of one subscriber through a sequence on a virtual clock, by the engine's own run machine and renderer: no writes, no sends, no jobs.",
    args: { input: t.arg({ type: SimulateSequenceInput, required: true }) },
    resolve: (_root, args, ctx) => payload(() => simulateSequence(ctx, args.input)),
  }),
}));

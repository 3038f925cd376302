// Versions of a sequence (issue 14): the published versions, the draft a live
// sequence is edited in, and publishing it (or an earlier version) with a dry
// run that says what happens to each run in flight.
import { RUN_MIGRATIONS, type RunPlan } from '../../domain/run-machine/publish.js';
import { loadVersionStats } from '../../services/stats.js';
import { discardSequenceDraft, editSequenceDraft, publishSequence, rollbackSequence, type PublishResult } from '../../services/versions.js';
import { builder } from '../builder.js';
import { SequencePayload, SequenceStatsRef, UpdateSequenceInput } from './sequence.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const RunMigrationEnum = builder.enumType('RunMigration', {
  description: 'MOVE: open runs continue on the new version (steps matched by id, none sent twice). KEEP: they finish on their own version.',
  values: RUN_MIGRATIONS,
});

const versionSteps = (v: { sequenceId: string; number: number }) => ({ sequenceId: v.sequenceId, version: v.number, versionPosition: { not: null } });

const SequenceVersionRef = builder.prismaObject('SequenceVersion', {
  description: 'A published version of a sequence: immutable, its steps and run-affecting settings as published.',
  fields: (t) => ({
    number: t.exposeInt('number'),
    publishedAt: t.expose('publishedAt', { type: 'DateTime' }),
    note: t.exposeString('note', { nullable: true }),
    stepCount: t.exposeInt('stepCount'),
    steps: t.prismaField({
      type: ['Step'],
      resolve: (query, v, _args, ctx) => ctx.runtime.db.step.findMany({ ...query, where: versionSteps(v), orderBy: { versionPosition: 'asc' } }),
    }),
    stats: t.loadable({
      type: SequenceStatsRef,
      description: 'Messages sent from this version’s steps, and the runs on this version now',
      load: (keys: string[], ctx) => loadVersionStats(ctx.runtime.db, keys),
      resolve: (v) => `${v.sequenceId}@${v.number}`,
    }),
  }),
});

builder.prismaObjectFields('Sequence', (t) => ({
  version: t.exposeInt('version', { description: 'The live version (runs record theirs: Enrollment.version)' }),
  versions: t.relation('versions', { query: { orderBy: { number: 'asc' } } }),
  draft: t.relation('draft', {
    nullable: true,
    description: 'The draft edits go to while the sequence is live (editSequenceDraft); preview and simulate it by its id',
  }),
  hasDraft: t.boolean({ select: { draft: { select: { id: true } } }, resolve: (s) => s.draft !== null }),
  draftOf: t.relation('draftOf', { nullable: true, description: 'For a draft: the live sequence it is the draft of' }),
}));

builder.prismaObjectField('Enrollment', 'version', (t) => t.exposeInt('version', { description: 'The sequence version the run follows' }));
builder.prismaObjectField('StepRun', 'version', (t) =>
  t.int({ description: 'The sequence version the step was sent from', select: { step: { select: { version: true } } }, resolve: (r) => r.step.version }),
);
builder.prismaObjectField('Step', 'version', (t) => t.exposeInt('version', { description: 'The sequence version this step belongs to' }));

const RunMoveRef = builder.objectRef<RunPlan>('RunMove').implement({
  description: 'What publishing does (or did) to one open run.',
  fields: (t) => ({
    enrollment: t.prismaField({ type: 'Enrollment', resolve: (query, m, _args, ctx) => ctx.runtime.db.enrollment.findUniqueOrThrow({ ...query, where: { id: m.runId } }) }),
    fromStep: t.prismaField({
      type: 'Step',
      nullable: true,
      resolve: (query, m, _args, ctx) => (m.fromStep ? ctx.runtime.db.step.findUnique({ ...query, where: { id: m.fromStep.id } }) : null),
    }),
    toStep: t.prismaField({
      type: 'Step',
      nullable: true,
      resolve: (query, m, _args, ctx) => (m.toStep ? ctx.runtime.db.step.findUnique({ ...query, where: { id: m.toStep.id } }) : null),
    }),
    dueBefore: t.expose('dueBefore', { type: 'DateTime', nullable: true }),
    dueAfter: t.expose('dueAfter', { type: 'DateTime', nullable: true }),
    outcome: t.exposeString('outcome', { description: 'MOVED or COMPLETED' }),
  }),
});

const PublishPayloadRef = builder.objectRef<Partial<PublishResult> & { errors: UserErrorShape[] }>('PublishPayload').implement({
  fields: (t) => ({
    sequence: t.prismaField({
      type: 'Sequence',
      nullable: true,
      resolve: (query, p, _args, ctx) => (p.sequenceId ? ctx.runtime.db.sequence.findUnique({ ...query, where: { id: p.sequenceId } }) : null),
    }),
    dryRun: t.boolean({ resolve: (p) => p.dryRun ?? true }),
    version: t.int({ nullable: true, description: 'The version published; null for a dry run', resolve: (p) => p.version ?? null }),
    movedCount: t.int({ description: 'Runs moved to another step or due time', resolve: (p) => p.movedCount ?? 0 }),
    keptCount: t.int({ description: 'Runs left on their version (KEEP)', resolve: (p) => p.keptCount ?? 0 }),
    completedCount: t.int({ description: 'Runs with nothing left to send on the new version: completed', resolve: (p) => p.completedCount ?? 0 }),
    unchangedCount: t.int({ description: 'Runs on the new version waiting for the same step at the same time', resolve: (p) => p.unchangedCount ?? 0 }),
    moves: t.field({ type: [RunMoveRef], description: 'The runs moved or completed, in run order, up to limit', resolve: (p) => p.moves ?? [] }),
    hasMore: t.boolean({ resolve: (p) => p.hasMore ?? false }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

const PublishSequenceInput = builder.inputType('PublishSequenceInput', {
  fields: (t) => ({
    runs: t.field({ type: RunMigrationEnum, defaultValue: 'MOVE' }),
    dryRun: t.boolean({ defaultValue: true, description: 'true (default): say what publishing would do, change nothing' }),
    note: t.string(),
    limit: t.int({ defaultValue: 100, description: 'Most moves listed (0-1000)' }),
  }),
});

builder.mutationFields((t) => ({
  editSequenceDraft: t.field({
    type: SequencePayload,
    description: 'Edits the draft of a live sequence (created from the live version on first edit); returns the draft',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateSequenceInput, required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ sequenceId: await editSequenceDraft(ctx, args.id, args.input), message: 'Draft updated.' })),
  }),
  discardSequenceDraft: t.field({
    type: SequencePayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => payload(async () => ({ sequenceId: await discardSequenceDraft(ctx, args.id), message: 'Draft discarded.' })),
  }),
  publishSequence: t.field({
    type: PublishPayloadRef,
    description: 'Publishes the draft as the next version; a dry run unless dryRun is false',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: PublishSequenceInput }) },
    resolve: (_root, args, ctx) => payload(() => publishSequence(ctx, args.id, args.input)),
  }),
  rollbackSequence: t.field({
    type: PublishPayloadRef,
    description: 'Publishes a copy of an earlier version as the next version; a dry run unless dryRun is false',
    args: { id: t.arg.id({ required: true }), toVersion: t.arg.int({ required: true }), input: t.arg({ type: PublishSequenceInput }) },
    resolve: (_root, args, ctx) => payload(() => rollbackSequence(ctx, args.id, args.toVersion, args.input)),
  }),
}));

import { durationInDays } from '../../domain/delay.js';
import { decodeId, encodeId } from '../../domain/public-id.js';
import type { SendWindow } from '../../domain/schedule.js';
import type { Sequence } from '../../generated/prisma/client.js';
import { changeSequenceStatus, createSequence, creationMessage, setSequenceLock, updateSequence } from '../../services/sequences.js';
import { loadProspectCounts, loadScheduleCounts, loadSequenceStats, type SequenceStats } from '../../services/stats.js';
import { builder, type MutationFieldBuilder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';
import { connectionWithTotalCount } from './connection.js';
import { EnrollmentConnection } from './enrollment.js';
import {
  EnrollmentModeEnum,
  EnrollmentStatusEnum,
  GenerationStatusEnum,
  ReplyActionEnum,
  ScheduleIntervalTypeEnum,
  SequenceTypeEnum,
  ShareTypeEnum,
  SequenceStatusEnum,
  StopConditionTypeEnum,
  TriggerTypeEnum,
} from './enums.js';
import { StepInput } from './step.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const liveSteps = { position: { not: null } } as const;

interface TriggerShape {
  type: string;
  listId: string | null;
  tagName: string | null;
  segmentId: string | null;
  eventName: string | null;
  inactiveDays: number | null;
  minCount: number | null;
  timeWindowDays: number | null;
}

const TriggerRef = builder.objectRef<TriggerShape>('Trigger').implement({
  fields: (t) => ({
    type: t.field({ type: TriggerTypeEnum, resolve: (tr) => tr.type as never }),
    listId: t.id({ nullable: true, resolve: (tr) => tr.listId && encodeId('List', tr.listId) }),
    tagName: t.exposeString('tagName', { nullable: true }),
    segmentId: t.id({ nullable: true, resolve: (tr) => tr.segmentId && encodeId('Segment', tr.segmentId) }),
    eventName: t.exposeString('eventName', { nullable: true }),
    inactiveDays: t.exposeInt('inactiveDays', { nullable: true }),
    minCount: t.exposeInt('minCount', { nullable: true }),
    timeWindowDays: t.exposeInt('timeWindowDays', { nullable: true }),
  }),
});

const StopConditionRef = builder
  .objectRef<{ type: string; value: string | null }>('StopCondition')
  .implement({
    fields: (t) => ({
      type: t.field({ type: StopConditionTypeEnum, resolve: (c) => c.type as never }),
      value: t.exposeString('value', { nullable: true }),
    }),
  });

const SendWindowRef = builder.objectRef<SendWindow>('SendWindow').implement({
  description: 'Sending hours: a step that falls due outside them waits for the next opening.',
  fields: (t) => ({
    timezone: t.exposeString('timezone'),
    daysOfWeek: t.exposeIntList('daysOfWeek', { description: '1 = Monday … 7 = Sunday' }),
    startHour: t.exposeInt('startHour', { description: '0-23, inclusive' }),
    endHour: t.exposeInt('endHour', { description: '1-24, exclusive' }),
  }),
});

export const SequenceStatsRef = builder.objectRef<SequenceStats>('SequenceStats').implement({
  fields: (t) => ({
    enrolled: t.exposeInt('enrolled'),
    active: t.exposeInt('active'),
    completed: t.exposeInt('completed'),
    cancelled: t.exposeInt('cancelled'),
    stopped: t.exposeInt('stopped'),
    sent: t.exposeInt('sent'),
    delivered: t.exposeInt('delivered'),
    opened: t.exposeInt('opened'),
    clicked: t.exposeInt('clicked'),
    replied: t.exposeInt('replied'),
    positiveReplies: t.exposeInt('positiveReplies'),
    neutralReplies: t.exposeInt('neutralReplies'),
    negativeReplies: t.exposeInt('negativeReplies'),
    bounced: t.exposeInt('bounced'),
    optedOut: t.exposeInt('optedOut'),
    failed: t.exposeInt('failed'),
  }),
});

export const SequenceRef = builder.prismaNode('Sequence', {
  ...tenantNode('Sequence'),
  fields: (t) => ({
    slug: t.exposeString('slug'),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    tags: t.exposeStringList('tags'),
    status: t.expose('status', { type: SequenceStatusEnum }),
    enabled: t.boolean({ resolve: (s) => s.status === 'ACTIVE' }),
    enabledAt: t.expose('enabledAt', { type: 'DateTime', nullable: true }),
    trigger: t.field({
      type: TriggerRef,
      resolve: (s) => ({
        type: s.triggerType,
        listId: s.triggerListId,
        tagName: s.triggerTagName,
        segmentId: s.triggerSegmentId,
        eventName: s.triggerEventName,
        inactiveDays: s.triggerInactiveDays,
        minCount: s.triggerMinCount,
        timeWindowDays: s.triggerTimeWindowDays,
      }),
    }),
    sequenceType: t.expose('sequenceType', { type: SequenceTypeEnum }),
    dateFieldPath: t.exposeString('dateFieldPath', {
      nullable: true,
      description: 'DATE sequences: where the run’s date is, in the entry event or else the subscriber’s attributes',
    }),
    enrollmentMode: t.expose('enrollmentMode', { type: EnrollmentModeEnum }),
    enrollmentFieldPath: t.exposeString('enrollmentFieldPath', { nullable: true }),
    stopCondition: t.field({
      type: StopConditionRef,
      resolve: (s) => ({ type: s.stopConditionType, value: s.stopConditionValue }),
    }),
    primaryReplyAction: t.expose('primaryReplyAction', { type: ReplyActionEnum }),
    primaryReplyPauseDuration: t.exposeInt('primaryReplyPauseDuration', { nullable: true, description: 'seconds' }),
    secondaryReplyAction: t.expose('secondaryReplyAction', {
      type: ReplyActionEnum,
      description: 'What a reply from someone other than the primary recipient does (recordReply fromPrimary: false)',
    }),
    secondaryReplyPauseDuration: t.exposeInt('secondaryReplyPauseDuration', { nullable: true, description: 'seconds' }),
    finishOnReply: t.boolean({ description: 'primaryReplyAction is FINISH', resolve: (s) => s.primaryReplyAction === 'FINISH' }),
    locked: t.boolean({ description: 'Locked sequences refuse edits (SEQUENCE_LOCKED)', resolve: (s) => s.lockedAt !== null }),
    lockedAt: t.expose('lockedAt', { type: 'DateTime', nullable: true }),
    throttlePausedAt: t.expose('throttlePausedAt', { type: 'DateTime', nullable: true }),
    shareType: t.expose('shareType', { type: ShareTypeEnum }),
    salesMotion: t.exposeString('salesMotion', { nullable: true }),
    scheduleIntervalType: t.expose('scheduleIntervalType', { type: ScheduleIntervalTypeEnum }),
    scheduleCount: t.loadable({
      type: 'Int',
      description: 'Emails scheduled and not yet sent: active runs waiting on an EMAIL step',
      load: (ids: string[], ctx) => loadScheduleCounts(ctx.runtime.db, ids),
      resolve: (s) => s.id,
    }),
    automationPercentage: t.float({
      description: 'Share of the steps that are automatic emails, 0-100 (every EMAIL step is automatic; 0 without steps)',
      select: { steps: { where: liveSteps, select: { type: true } } },
      resolve: (s) => (s.steps.length ? (100 * s.steps.filter((x) => x.type === 'EMAIL').length) / s.steps.length : 0),
    }),
    numContactedProspects: t.loadable({
      type: 'Int',
      description: 'Distinct subscribers sent at least one email of this sequence',
      load: (ids: string[], ctx) => loadProspectCounts(ctx.runtime.db, ids, 'contacted'),
      resolve: (s) => s.id,
    }),
    numRepliedProspects: t.loadable({
      type: 'Int',
      description: 'Distinct subscribers who replied to an email of this sequence',
      load: (ids: string[], ctx) => loadProspectCounts(ctx.runtime.db, ids, 'replied'),
      resolve: (s) => s.id,
    }),
    throttleCapacity: t.exposeInt('throttleCapacity', { nullable: true, description: 'most runs active at once' }),
    throttleMaxAddsPerDay: t.exposeInt('throttleMaxAddsPerDay', { nullable: true, description: 'most runs started per day' }),
    throttlePaused: t.exposeBoolean('throttlePaused'),
    maxActivations: t.exposeInt('maxActivations', { nullable: true, description: 'most runs ever' }),
    transactional: t.exposeBoolean('transactional', { description: 'true: sends even to opted-out subscribers' }),
    sendWindow: t.field({
      type: SendWindowRef,
      nullable: true,
      resolve: (s) => (s.sendWindow as SendWindow | null) ?? null,
    }),
    goal: t.exposeString('goal', { nullable: true }),
    emailCount: t.int({
      description: 'Emails in the sequence: for a draft generated from a goal, the number asked for (also while generating)',
      select: { emailCount: true, steps: { where: { ...liveSteps, type: 'EMAIL' }, select: { id: true } } },
      resolve: (s) => s.emailCount ?? s.steps.length,
    }),
    generationStatus: t.expose('generationStatus', { type: GenerationStatusEnum }),
    generationError: t.exposeString('generationError', {
      nullable: true,
      description: 'Why the draft could not be written (generationStatus FAILED)',
    }),
    steps: t.relation('steps', { query: { where: liveSteps, orderBy: { position: 'asc' } } }),
    stepCount: t.relationCount('steps', { where: liveSteps }),
    durationInDays: t.int({
      select: { steps: { where: liveSteps, select: { delayDays: true, delayHours: true, delayMinutes: true } } },
      resolve: (s) =>
        durationInDays(s.steps.map((d) => ({ days: d.delayDays, hours: d.delayHours, minutes: d.delayMinutes }))),
    }),
    stats: t.loadable({
      type: SequenceStatsRef,
      load: (ids: string[], ctx) => loadSequenceStats(ctx.runtime.db, ids),
      resolve: (s) => s.id,
    }),
    enrollments: t.relatedConnection(
      'enrollments',
      {
        cursor: 'id',
        // From the run counters (EnrollmentConnection), not a count(*) in the page's query.
        totalCount: false,
        args: { status: t.arg({ type: [EnrollmentStatusEnum] }) },
        query: (args) => ({
          where: args.status ? { status: { in: args.status } } : {},
          orderBy: { id: 'desc' },
        }),
      },
      EnrollmentConnection,
    ),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
  }),
});

const SequenceConnection = connectionWithTotalCount(SequenceRef, 'SequenceConnection');

builder.queryFields((t) => ({
  sequence: t.prismaField({
    type: 'Sequence',
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.runtime.db.sequence.findFirst({ ...query, where: { id: decodeId('Sequence', args.id, ['id']), workspaceId: ctx.workspaceId } }),
  }),
  sequences: t.prismaConnection(
    {
      type: 'Sequence',
      cursor: 'id',
      totalCount: (_parent, args, ctx) => ctx.runtime.db.sequence.count({ where: sequenceFilter(args, ctx.workspaceId) }),
      args: {
        status: t.arg({ type: SequenceStatusEnum }),
        search: t.arg.string({ description: 'Case-insensitive match on the name' }),
      },
      resolve: (query, _root, args, ctx) =>
        ctx.runtime.db.sequence.findMany({ ...query, where: sequenceFilter(args, ctx.workspaceId), orderBy: { id: 'desc' } }),
    },
    SequenceConnection,
  ),
}));

function sequenceFilter(args: { status?: string | null; search?: string | null }, workspaceId: string) {
  return {
    workspaceId,
    // Drafts of live sequences are reached through Sequence.draft, never listed.
    draftOfId: null,
    ...(args.status ? { status: args.status as never } : {}),
    ...(args.search ? { name: { contains: args.search, mode: 'insensitive' as const } } : {}),
  };
}

// ---------------------------------------------------------------- mutations

const StopConditionInput = builder.inputType('StopConditionInput', {
  fields: (t) => ({ type: t.field({ type: StopConditionTypeEnum, required: true }), value: t.string() }),
});

const SendWindowInput = builder.inputType('SendWindowInput', {
  fields: (t) => ({
    timezone: t.string({ required: true }),
    daysOfWeek: t.intList({ required: true }),
    startHour: t.int({ required: true }),
    endHour: t.int({ required: true }),
  }),
});

export const CreateSequenceInput = builder.inputType('CreateSequenceInput', {
  description: 'Either goal (with emailCount, default 5, at most 10) or steps.',
  fields: (t) => ({
    name: t.string({ required: true }),
    slug: t.string(),
    description: t.string(),
    tags: t.stringList(),
    trigger: t.field({ type: TriggerTypeEnum, required: true }),
    listId: t.id(),
    tagName: t.string(),
    segmentId: t.id(),
    eventName: t.string(),
    inactiveDays: t.int(),
    minCount: t.int(),
    timeWindowDays: t.int(),
    enrollmentMode: t.field({ type: EnrollmentModeEnum }),
    enrollmentFieldPath: t.string(),
    sequenceType: t.field({
      type: SequenceTypeEnum,
      description: 'INTERVAL (default): each step after the one before. DATE: each step at its dateOffset from the date at dateFieldPath',
    }),
    dateFieldPath: t.string({ description: 'DATE sequences: e.g. webinar.startsAt (entry event, else subscriber attributes)' }),
    stopCondition: t.field({ type: StopConditionInput }),
    primaryReplyAction: t.field({ type: ReplyActionEnum }),
    primaryReplyPauseDuration: t.int(),
    secondaryReplyAction: t.field({ type: ReplyActionEnum, description: 'Default CONTINUE' }),
    secondaryReplyPauseDuration: t.int(),
    shareType: t.field({ type: ShareTypeEnum, description: 'Default SHARED' }),
    salesMotion: t.string(),
    scheduleIntervalType: t.field({ type: ScheduleIntervalTypeEnum, description: 'Default CALENDAR' }),
    throttleCapacity: t.int(),
    throttleMaxAddsPerDay: t.int(),
    throttlePaused: t.boolean(),
    maxActivations: t.int(),
    transactional: t.boolean(),
    sendWindow: t.field({ type: SendWindowInput }),
    goal: t.string(),
    emailCount: t.int(),
    steps: t.field({ type: [StepInput] }),
  }),
});

export const UpdateSequenceInput = builder.inputType('UpdateSequenceInput', {
  description: 'Every field optional; steps, when given, replace the steps of the sequence.',
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    tags: t.stringList(),
    stopCondition: t.field({ type: StopConditionInput }),
    primaryReplyAction: t.field({ type: ReplyActionEnum }),
    primaryReplyPauseDuration: t.int(),
    secondaryReplyAction: t.field({ type: ReplyActionEnum }),
    secondaryReplyPauseDuration: t.int(),
    shareType: t.field({ type: ShareTypeEnum }),
    salesMotion: t.string(),
    scheduleIntervalType: t.field({ type: ScheduleIntervalTypeEnum }),
    throttleCapacity: t.int(),
    throttleMaxAddsPerDay: t.int(),
    throttlePaused: t.boolean(),
    maxActivations: t.int(),
    transactional: t.boolean(),
    sendWindow: t.field({ type: SendWindowInput }),
    steps: t.field({ type: [StepInput] }),
  }),
});

/** `sequence`: the row as the mutation committed it, reported as is (a racing change that commits later does not show). */
export const SequencePayload = builder.objectRef<{ sequenceId?: string; sequence?: Sequence; message?: string; errors: UserErrorShape[] }>('SequencePayload').implement({
  fields: (t) => ({
    message: t.string({
      nullable: true,
      description: 'What happened, in words (e.g. "Sequence created. Generating 5 emails…"); null on errors',
      resolve: (p) => p.message ?? null,
    }),
    sequence: t.prismaField({
      type: 'Sequence',
      nullable: true,
      resolve: async (query, p, _args, ctx) => {
        if (!p.sequenceId) return null;
        const row = await ctx.runtime.db.sequence.findUnique({ ...query, where: { id: p.sequenceId } });
        // Columns as this mutation committed them; relations and counts as loaded now.
        return row && p.sequence ? { ...row, ...p.sequence } : row;
      },
    }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

builder.mutationFields((t) => ({
  createSequence: t.field({
    type: SequencePayload,
    args: { input: t.arg({ type: CreateSequenceInput, required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => {
        const sequenceId = await createSequence(ctx, args.input);
        return { sequenceId, message: await creationMessage(ctx.runtime.db, sequenceId) };
      }),
  }),
  updateSequence: t.field({
    type: SequencePayload,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateSequenceInput, required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => ({ sequenceId: await updateSequence(ctx, args.id, args.input), message: 'Sequence updated.' })),
  }),
  lockSequence: t.field({
    type: SequencePayload,
    description: 'Locks the sequence: edits (updateSequence, archiveSequence) are refused with SEQUENCE_LOCKED until unlocked',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => {
        const sequence = await setSequenceLock(ctx, args.id, true);
        return { sequenceId: sequence.id, sequence, message: 'Sequence locked.' };
      }),
  }),
  unlockSequence: t.field({
    type: SequencePayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => {
        const sequence = await setSequenceLock(ctx, args.id, false);
        return { sequenceId: sequence.id, sequence, message: 'Sequence unlocked.' };
      }),
  }),
  enableSequence: statusMutation(t, 'enable'),
  disableSequence: statusMutation(t, 'disable'),
  archiveSequence: statusMutation(t, 'archive'),
}));

function statusMutation(t: MutationFieldBuilder, action: 'enable' | 'disable' | 'archive') {
  return t.field({
    type: SequencePayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => payload(async () => {
        const sequence = await changeSequenceStatus(ctx, args.id, action);
        return { sequenceId: sequence.id, sequence };
      }),
  });
}

import { normalizeBlocks } from '../../domain/blocks.js';
import { renderStepHtml } from '../../mail/step-preview.js';
import { loadStepStats, type MessageCounts } from '../../services/stats.js';
import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';
import { StepTypeEnum } from './enums.js';

interface DelayShape {
  days: number;
  hours: number;
  minutes: number;
}

export const DelayRef = builder.objectRef<DelayShape>('Delay').implement({
  fields: (t) => ({
    days: t.exposeInt('days'),
    hours: t.exposeInt('hours'),
    minutes: t.exposeInt('minutes'),
  }),
});

interface DiscountShape {
  label?: string | null;
  provider: string;
  discountType: string;
  percentOff?: number | null;
  amountOff?: number | null;
  currency?: string | null;
  duration?: string | null;
  durationInMonths?: number | null;
  appliesToAllPlans?: boolean | null;
  planIds?: string[] | null;
  codePrefix?: string | null;
  maxRedemptions?: number | null;
  lockToSubscriber?: boolean | null;
  expiresAt?: string | null;
  expiresInHours?: number | null;
  name?: string | null;
}

/** A CREATE_DISCOUNT step's terms, as stored on the step (JSON). */
export const DiscountRef = builder.objectRef<DiscountShape>('Discount').implement({
  fields: (t) => ({
    label: t.exposeString('label', { nullable: true }),
    provider: t.exposeString('provider'),
    discountType: t.exposeString('discountType'),
    percentOff: t.exposeFloat('percentOff', { nullable: true }),
    amountOff: t.exposeInt('amountOff', { nullable: true }),
    currency: t.exposeString('currency', { nullable: true }),
    duration: t.exposeString('duration', { nullable: true }),
    durationInMonths: t.exposeInt('durationInMonths', { nullable: true }),
    appliesToAllPlans: t.exposeBoolean('appliesToAllPlans', { nullable: true }),
    planIds: t.exposeStringList('planIds', { nullable: true }),
    codePrefix: t.exposeString('codePrefix', { nullable: true }),
    maxRedemptions: t.exposeInt('maxRedemptions', { nullable: true }),
    lockToSubscriber: t.exposeBoolean('lockToSubscriber', { nullable: true }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (d) => (d.expiresAt ? new Date(d.expiresAt) : null),
    }),
    expiresInHours: t.exposeInt('expiresInHours', { nullable: true }),
    name: t.exposeString('name', { nullable: true }),
  }),
});

export const StepStatsRef = builder.objectRef<MessageCounts>('StepStats').implement({
  fields: (t) => ({
    sent: t.exposeInt('sent'),
    delivered: t.exposeInt('delivered'),
    opened: t.exposeInt('opened'),
    clicked: t.exposeInt('clicked'),
    replied: t.exposeInt('replied'),
    bounced: t.exposeInt('bounced'),
    optedOut: t.exposeInt('optedOut'),
    failed: t.exposeInt('failed'),
  }),
});

export const StepRef = builder.prismaNode('Step', {
  ...tenantNode('Step'),
  fields: (t) => ({
    // Its position in its version (live or older); retired steps (removed by an edit) keep their runs' history but have none.
    position: t.int({ resolve: (step) => step.position ?? step.versionPosition ?? 0 }),
    type: t.expose('type', { type: StepTypeEnum }),
    name: t.exposeString('name', { nullable: true }),
    delay: t.field({
      type: DelayRef,
      resolve: (step) => ({ days: step.delayDays, hours: step.delayHours, minutes: step.delayMinutes }),
    }),
    subject: t.exposeString('subject', { nullable: true }),
    previewText: t.exposeString('previewText', { nullable: true }),
    blocks: t.expose('blocks', { type: 'JSON', nullable: true }),
    html: t.string({
      nullable: true,
      description: 'The rendered email HTML (merge tags rendered for a sample subscriber).',
      select: { blocks: true, subject: true, previewText: true, sequence: { select: { transactional: true } } },
      resolve: (step) =>
        step.blocks == null
          ? null
          : renderStepHtml({
              subject: step.subject ?? '',
              previewText: step.previewText,
              blocks: normalizeBlocks(step.blocks),
              transactional: step.sequence.transactional,
            }),
    }),
    dateOffset: t.field({
      type: DateOffsetRef,
      nullable: true,
      description: 'DATE sequences: when the step falls due relative to the run’s date',
      resolve: (step) => step.dateOffsetMinutes,
    }),
    discount: t.field({
      type: DiscountRef,
      nullable: true,
      resolve: (step) => (step.discount as DiscountShape | null) ?? null,
    }),
    stats: t.loadable({
      type: StepStatsRef,
      load: (ids: string[], ctx) => loadStepStats(ctx.runtime.db, ids),
      resolve: (step) => step.id,
    }),
  }),
});

/** Contract's DelayInput; validated again by the sequence rules. */
export const DelayInput = builder.inputType('DelayInput', {
  fields: (t) => ({
    days: t.int(),
    hours: t.int(),
    minutes: t.int(),
  }),
});

export const DiscountInput = builder.inputType('DiscountInput', {
  fields: (t) => ({
    label: t.string(),
    provider: t.string({ description: 'BUILTIN (default), STRIPE or SHOPIFY; case-insensitive' }),
    discountType: t.string({ required: true, description: 'percent or amount' }),
    percentOff: t.float(),
    amountOff: t.int({ description: 'In the currency’s smallest unit (cents)' }),
    currency: t.string(),
    duration: t.string({ description: 'once (default), repeating or forever' }),
    durationInMonths: t.int(),
    appliesToAllPlans: t.boolean(),
    planIds: t.stringList(),
    codePrefix: t.string(),
    maxRedemptions: t.int(),
    lockToSubscriber: t.boolean(),
    expiresAt: t.field({ type: 'DateTime' }),
    expiresInHours: t.int(),
    name: t.string(),
  }),
});

const DateOffsetDirection = builder.enumType('DateOffsetDirection', { values: ['BEFORE', 'AFTER'] as const });

const DateOffsetInput = builder.inputType('DateOffsetInput', {
  description: 'DATE sequences: when a step falls due, before or after the run’s date.',
  fields: (t) => ({
    days: t.int(),
    hours: t.int(),
    minutes: t.int(),
    direction: t.field({ type: DateOffsetDirection, required: true }),
  }),
});

const DateOffsetRef = builder.objectRef<number>('DateOffset').implement({
  fields: (t) => ({
    days: t.int({ resolve: (m) => Math.floor(Math.abs(m) / 1440) }),
    hours: t.int({ resolve: (m) => Math.floor((Math.abs(m) % 1440) / 60) }),
    minutes: t.int({ resolve: (m) => Math.abs(m) % 60 }),
    direction: t.field({ type: DateOffsetDirection, resolve: (m) => (m < 0 ? 'BEFORE' : 'AFTER') }),
  }),
});

export const StepInput = builder.inputType('StepInput', {
  description:
    'An EMAIL step has subject and exactly one of blocks or html; html is converted to blocks. A CREATE_DISCOUNT step has discount.',
  fields: (t) => ({
    id: t.id({ description: 'Keep this existing step (its runs and stats) while editing; omit for a new step.' }),
    type: t.field({ type: StepTypeEnum }),
    name: t.string(),
    subject: t.string(),
    previewText: t.string(),
    blocks: t.field({ type: 'JSON' }),
    html: t.string(),
    delay: t.field({ type: DelayInput }),
    discount: t.field({ type: DiscountInput }),
    dateOffset: t.field({ type: DateOffsetInput, description: 'DATE sequences only (instead of delay)' }),
  }),
});

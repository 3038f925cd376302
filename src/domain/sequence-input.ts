// The rules for a sequence's definition: which trigger needs which fields, what a
// step must hold, how discounts are described. Pure: GraphQL input comes in,
// a validated definition (or zod issues with field paths) comes out.
import { z } from 'zod';
import { normalizeBlocks } from './blocks.js';
import { delayInputSchema } from './delay.js';
import { dotPathSchema } from './json-path.js';
import { sendWindowSchema } from './schedule.js';

export const TRIGGER_TYPES = [
  'CONTACT_ADDED',
  'TAG_ADDED',
  'SEGMENT_ENTERED',
  'EVENT_RECEIVED',
  'INACTIVITY',
  'FREQUENCY',
  'MANUAL',
] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

export const TRIGGER_FIELDS = [
  'listId',
  'tagName',
  'segmentId',
  'eventName',
  'inactiveDays',
  'minCount',
  'timeWindowDays',
] as const;
type TriggerField = (typeof TRIGGER_FIELDS)[number];

/** Per trigger: the fields it needs, and those it may take. Any other trigger field is refused. */
const TRIGGER_RULES: Record<TriggerType, { required: TriggerField[]; optional: TriggerField[] }> = {
  CONTACT_ADDED: { required: [], optional: ['listId'] },
  TAG_ADDED: { required: ['tagName'], optional: [] },
  SEGMENT_ENTERED: { required: ['segmentId'], optional: [] },
  EVENT_RECEIVED: { required: ['eventName'], optional: [] },
  INACTIVITY: { required: ['inactiveDays'], optional: ['eventName'] },
  FREQUENCY: { required: ['eventName', 'minCount', 'timeWindowDays'], optional: [] },
  MANUAL: { required: [], optional: [] },
};

const STOP_CONDITIONS = ['NONE', 'HAS_TAG', 'DOES_NOT_HAVE_TAG', 'EVENT_RECEIVED', 'ADDED_TO_LIST', 'REMOVED_FROM_LIST'] as const;
const REPLY_ACTIONS = ['FINISH', 'CONTINUE', 'PAUSE'] as const;
const ENROLLMENT_MODES = ['UNLIMITED', 'ONE_TIME', 'MATCHING_FIELD'] as const;
const SHARE_TYPES = ['PRIVATE', 'READ_ONLY', 'SHARED'] as const;
const SCHEDULE_INTERVAL_TYPES = ['CALENDAR', 'SCHEDULE'] as const;
/** Outreach's limits: names up to 255 characters, descriptions up to 1,024. */
export const MAX_NAME = 255;
export const MAX_DESCRIPTION = 1024;

const text = (max: number) => z.string().trim().min(1, { message: 'must not be empty' }).max(max);
const positiveInt = (max: number) =>
  z.int().min(1, { message: 'must be at least 1' }).max(max, { message: `must be at most ${max}` });
const fieldPath = dotPathSchema('order.id');

export const DISCOUNT_PROVIDERS = ['BUILTIN', 'STRIPE', 'SHOPIFY'] as const;

export const discountSchema = z
  .object({
    label: z.string().max(200).nullish(),
    // Case-insensitive: `stripe`, `STRIPE` and `Stripe` are the same provider.
    provider: z.preprocess((p) => (typeof p === 'string' ? p.trim().toUpperCase() : p), z.enum(DISCOUNT_PROVIDERS)).default('BUILTIN'),
    discountType: z.enum(['percent', 'amount']),
    percentOff: z.number().gt(0).max(100).nullish(),
    amountOff: positiveInt(100_000_000).nullish(),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/, { message: 'must be a three-letter ISO currency code' })
      .transform((c) => c.toLowerCase())
      .nullish(),
    duration: z.enum(['once', 'repeating', 'forever']).default('once'),
    durationInMonths: positiveInt(120).nullish(),
    appliesToAllPlans: z.boolean().default(true),
    planIds: z.array(text(200)).max(100).nullish(),
    codePrefix: z
      .string()
      .regex(/^[A-Z0-9_-]{1,20}$/i, { message: 'must be 1-20 letters, digits, - or _' })
      .transform((p) => p.toUpperCase())
      .nullish(),
    maxRedemptions: positiveInt(1_000_000).nullish(),
    lockToSubscriber: z.boolean().default(false),
    expiresAt: z.date().nullish(),
    expiresInHours: positiveInt(24 * 3650).nullish(),
    name: z.string().max(200).nullish(),
  })
  .superRefine((d, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (d.discountType === 'percent') {
      if (d.percentOff == null) issue('percentOff', 'is required for a percent discount');
      if (d.amountOff != null) issue('amountOff', 'does not apply to a percent discount');
    } else {
      if (d.amountOff == null) issue('amountOff', 'is required for an amount discount');
      if (d.currency == null) issue('currency', 'is required for an amount discount');
      if (d.percentOff != null) issue('percentOff', 'does not apply to an amount discount');
    }
    if (d.duration === 'repeating' && d.durationInMonths == null) issue('durationInMonths', 'is required when duration is repeating');
    if (d.duration !== 'repeating' && d.durationInMonths != null) issue('durationInMonths', 'only applies when duration is repeating');
    if (d.expiresAt != null && d.expiresInHours != null) issue('expiresInHours', 'cannot be combined with expiresAt');
    if (!d.appliesToAllPlans && !d.planIds?.length) issue('planIds', 'are required when appliesToAllPlans is false');
    if (d.provider === 'SHOPIFY') {
      // Shopify codes discount an order once; plans are Stripe's.
      if (d.duration !== 'once') issue('duration', 'must be once for SHOPIFY discounts');
      if (d.planIds?.length || !d.appliesToAllPlans) issue('planIds', 'only apply to STRIPE discounts');
    }
  });
export type DiscountTerms = z.output<typeof discountSchema>;

const blocksField = z.unknown().transform((value, ctx) => {
  try {
    return normalizeBlocks(value);
  } catch (error) {
    if (!(error instanceof z.ZodError)) throw error;
    for (const issue of error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path } as never);
    return z.NEVER;
  }
});

const DATE_OFFSET_DIRECTIONS = ['BEFORE', 'AFTER'] as const;
const dateOffsetSchema = z
  .object({
    days: z.int().min(0).max(3650).nullish(),
    hours: z.int().min(0).max(23 * 3650).nullish(),
    minutes: z.int().min(0).max(59 * 3650).nullish(),
    direction: z.enum(DATE_OFFSET_DIRECTIONS),
  })
  .transform((o) => {
    const minutes = (o.days ?? 0) * 1440 + (o.hours ?? 0) * 60 + (o.minutes ?? 0);
    return o.direction === 'BEFORE' ? -minutes : minutes;
  });

export const stepSchema = z
  .object({
    id: z.string().nullish(),
    type: z.enum(['EMAIL', 'CREATE_DISCOUNT']).default('EMAIL'),
    name: z.string().trim().max(200).nullish(),
    subject: text(998).nullish(),
    previewText: z.string().max(500).nullish(),
    blocks: blocksField.nullish(),
    html: z.string().min(1, { message: 'must not be empty' }).max(1_000_000).nullish(),
    delay: delayInputSchema.nullish().transform((d) => d ?? { days: 0, hours: 0, minutes: 0 }),
    discount: discountSchema.nullish(),
    // DATE sequences: when the step falls due, relative to the run's date.
    dateOffset: dateOffsetSchema.nullish(),
  })
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (s.type === 'EMAIL') {
      if (s.subject == null) issue('subject', 'is required for an EMAIL step');
      if (s.blocks == null && s.html == null) issue('blocks', 'an EMAIL step needs blocks or html');
      if (s.blocks != null && s.html != null) issue('html', 'cannot be combined with blocks');
      if (s.discount != null) issue('discount', 'only applies to a CREATE_DISCOUNT step');
    } else {
      if (s.discount == null) issue('discount', 'is required for a CREATE_DISCOUNT step');
      for (const field of ['subject', 'previewText', 'blocks', 'html'] as const) {
        if (s[field] != null) issue(field, 'only applies to an EMAIL step');
      }
    }
  });
export type StepDefinition = z.output<typeof stepSchema>;

const stopConditionSchema = z
  .object({ type: z.enum(STOP_CONDITIONS), value: z.string().trim().max(200).nullish() })
  .superRefine((c, ctx) => {
    if (c.type === 'NONE' && c.value) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be empty when type is NONE' });
    if (c.type !== 'NONE' && !c.value) ctx.addIssue({ code: 'custom', path: ['value'], message: `is required for ${c.type}` });
  });

/** Fields shared by create and update; all optional here, defaults applied on create. */
const settingsShape = {
  name: text(MAX_NAME),
  description: z.string().max(MAX_DESCRIPTION).nullish(),
  tags: z.array(text(100)).max(50).transform((tags) => [...new Set(tags)]),
  stopCondition: stopConditionSchema,
  primaryReplyAction: z.enum(REPLY_ACTIONS),
  primaryReplyPauseDuration: positiveInt(366 * 86_400).nullish(),
  secondaryReplyAction: z.enum(REPLY_ACTIONS),
  secondaryReplyPauseDuration: positiveInt(366 * 86_400).nullish(),
  shareType: z.enum(SHARE_TYPES),
  salesMotion: z.string().trim().max(MAX_NAME).nullish(),
  scheduleIntervalType: z.enum(SCHEDULE_INTERVAL_TYPES),
  throttleCapacity: positiveInt(10_000_000).nullish(),
  throttleMaxAddsPerDay: positiveInt(10_000_000).nullish(),
  throttlePaused: z.boolean(),
  maxActivations: positiveInt(1_000_000_000).nullish(),
  transactional: z.boolean(),
  sendWindow: sendWindowSchema.nullish(),
  steps: z.array(stepSchema).max(100),
};

export const createSequenceSchema = z
  .object({
    ...settingsShape,
    slug: z
      .string()
      .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, { message: 'must be lowercase letters, digits and single dashes' })
      .max(64)
      .nullish(),
    tags: settingsShape.tags.default([]),
    trigger: z.enum(TRIGGER_TYPES),
    listId: z.string().nullish(),
    tagName: text(100).nullish(),
    segmentId: z.string().nullish(),
    eventName: text(200).nullish(),
    inactiveDays: positiveInt(3650).nullish(),
    minCount: positiveInt(1_000_000).nullish(),
    timeWindowDays: positiveInt(3650).nullish(),
    // None given: MATCHING_FIELD for back-in-stock/replenishment events, else UNLIMITED (defaultEnrollmentMode).
    sequenceType: z.enum(['INTERVAL', 'DATE']).default('INTERVAL'),
    dateFieldPath: fieldPath.nullish(),
    enrollmentMode: z.enum(ENROLLMENT_MODES).nullish(),
    enrollmentFieldPath: fieldPath.nullish(),
    stopCondition: stopConditionSchema.default({ type: 'NONE', value: null }),
    primaryReplyAction: settingsShape.primaryReplyAction.default('FINISH'),
    secondaryReplyAction: settingsShape.secondaryReplyAction.default('CONTINUE'),
    shareType: settingsShape.shareType.default('SHARED'),
    scheduleIntervalType: settingsShape.scheduleIntervalType.default('CALENDAR'),
    throttlePaused: z.boolean().default(false),
    transactional: z.boolean().default(false),
    goal: text(2000).nullish(),
    emailCount: positiveInt(10).nullish(),
    steps: settingsShape.steps.nullish(),
  })
  .superRefine((input, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const rule = TRIGGER_RULES[input.trigger];
    for (const field of TRIGGER_FIELDS) {
      const given = input[field] != null;
      if (rule.required.includes(field) && !given) issue(field, `is required for ${input.trigger} triggers`);
      if (given && !rule.required.includes(field) && !rule.optional.includes(field)) {
        issue(field, `does not apply to ${input.trigger} triggers`);
      }
    }
    if (input.enrollmentMode === 'MATCHING_FIELD') {
      // Without enrollmentFieldPath the key comes from the event's built-in fields (domain/enrollment-key.ts).
      if (input.trigger !== 'EVENT_RECEIVED') issue('enrollmentMode', 'MATCHING_FIELD only applies to EVENT_RECEIVED triggers');
    }
    if (input.goal != null && input.steps != null) issue('goal', 'cannot be combined with steps');
    checkDateSteps(input.sequenceType, input.dateFieldPath ?? null, input.steps ?? [], (path, message) =>
      ctx.addIssue({ code: 'custom', path, message }),
    );
    if (input.sequenceType === 'DATE' && input.goal != null) issue('goal', 'DATE sequences take explicit steps with dateOffset');
    if (input.emailCount != null && input.goal == null) issue('emailCount', 'only applies with goal');
    checkReplyPause(input, issue);
  });
export type CreateSequenceDefinition = z.output<typeof createSequenceSchema>;

export const updateSequenceSchema = z.object(settingsShape).partial();
export type UpdateSequenceDefinition = z.output<typeof updateSequenceSchema>;

/** PAUSE needs to know for how long; checked on the merged result of an update too. */
export function checkReplyPause(
  s: {
    primaryReplyAction?: string | null;
    primaryReplyPauseDuration?: number | null;
    secondaryReplyAction?: string | null;
    secondaryReplyPauseDuration?: number | null;
  },
  issue: (path: string, message: string) => void,
) {
  if (s.primaryReplyAction === 'PAUSE' && s.primaryReplyPauseDuration == null) {
    issue('primaryReplyPauseDuration', 'is required when primaryReplyAction is PAUSE');
  }
  if (s.secondaryReplyAction === 'PAUSE' && s.secondaryReplyPauseDuration == null) {
    issue('secondaryReplyPauseDuration', 'is required when secondaryReplyAction is PAUSE');
  }
}

/**
 * DATE sequences time every step from one date (dateFieldPath): each step needs a
 * dateOffset and no delay, in time order. INTERVAL sequences take no dateOffset.
 */
export function checkDateSteps(
  sequenceType: 'INTERVAL' | 'DATE',
  dateFieldPath: string | null,
  steps: readonly { dateOffset?: number | null; delay: { days: number; hours: number; minutes: number } }[],
  issue: (path: (string | number)[], message: string) => void,
) {
  if (sequenceType === 'INTERVAL') {
    if (dateFieldPath != null) issue(['dateFieldPath'], 'only applies to DATE sequences');
    steps.forEach((s, i) => s.dateOffset != null && issue(['steps', i, 'dateOffset'], 'only applies to DATE sequences'));
    return;
  }
  if (dateFieldPath == null) issue(['dateFieldPath'], 'is required for DATE sequences (e.g. webinar.startsAt)');
  let previous = -Infinity;
  steps.forEach((s, i) => {
    if (s.dateOffset == null) return issue(['steps', i, 'dateOffset'], 'is required in a DATE sequence');
    if (s.delay.days || s.delay.hours || s.delay.minutes) issue(['steps', i, 'delay'], 'does not apply in a DATE sequence: use dateOffset');
    if (s.dateOffset < previous) issue(['steps', i, 'dateOffset'], 'must not be earlier than the step before');
    previous = s.dateOffset;
  });
}

/** publishSequence / rollbackSequence: a dry run unless dryRun is false; runs MOVE to the new version by default. */
export const publishSequenceSchema = z.object({
  runs: z.enum(['MOVE', 'KEEP']).nullish().transform((r) => r ?? 'MOVE'),
  dryRun: z.boolean().nullish().transform((d) => d ?? true),
  note: z.string().trim().max(500).nullish().transform((n) => n || null),
  limit: z.int().min(0).max(1000).nullish().transform((l) => l ?? 100),
});

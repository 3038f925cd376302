// Runs one step of one run. Everything happens in one transaction that holds the
// run's row lock: a cancel that commits first makes the step skip; a cancel that
// comes while the email is being handed to SMTP waits, and then finds it recorded.
import { transaction } from '../db/transaction.js';
import { randomBytes } from 'node:crypto';
import { now } from '../clock.js';
import { delayToSeconds } from '../domain/delay.js';
import type { MergeTagContext } from '../domain/merge-tags.js';
import { dateStepDueAt, lateDateStepReason, nextOpening, sequenceRunDate, stepDueAt, type SendWindow } from '../domain/schedule.js';
import type { DiscountTerms } from '../domain/sequence-input.js';
import { db, type Tx } from '../db/client.js';
import type { Enrollment, Sequence, Step, Subscriber } from '../generated/prisma/client.js';
import { createStripeDiscount, describeStripeError, isTransientStripeError, providerSecrets } from '../integrations/stripe.js';
import { createShopifyDiscount, ShopifyUnavailable } from '../integrations/shopify.js';
import { uuidv7 } from '../domain/tracking-links.js';
import { renderTrackedStep } from '../mail/tracked-email.js';
import { notifyStatsChanged, trackingKeys } from '../services/tracking.js';
import { shopifyCredentials, stripeSecretKey } from '../services/integrations.js';
import { mailer, senderDomain } from '../mail/transport.js';
import { enqueue } from './boss.js';
import { lockRunRow } from './locks.js';
import { QUEUES, type StepJob } from './queues.js';
import { runEnded } from './release-queued.js';
import { setRunStatus } from './run-status.js';

export type StepOutcome = 'executed' | 'deferred' | 'skipped';

type LoadedRun = Enrollment & { sequence: Sequence; subscriber: Subscriber };

/** A step that failed for good: the run ends FAILED with the error in its history. */
class StepFailure extends Error {}

export async function executeStep(job: StepJob, options: { finalAttempt: boolean }): Promise<StepOutcome> {
  return transaction(
    async (tx) => {
      await lockRunRow(tx, job.enrollmentId);
      const run = await tx.enrollment.findUnique({
        where: { id: job.enrollmentId },
        include: { sequence: true, subscriber: true },
      });
      // Cancelled, stopped, paused or finished meanwhile: nothing to do. A disabled
      // sequence's runs wait; enabling the sequence schedules them again.
      if (!run || run.status !== 'ACTIVE' || run.sequence.status !== 'ACTIVE') return 'skipped';
      const step = await tx.step.findUnique({ where: { id: job.stepId } });
      if (!step || step.position === null || step.position !== run.currentStepPosition) return 'skipped';
      const previous = await tx.stepRun.findUnique({
        where: { enrollmentId_stepId: { enrollmentId: run.id, stepId: step.id } },
      });
      if (previous) return 'skipped';

      const at = now();
      const opening = nextOpening(at, run.sequence.sendWindow as SendWindow | null);
      if (opening.getTime() > at.getTime()) {
        await tx.enrollment.update({ where: { id: run.id }, data: { nextTriggerAt: opening } });
        await enqueue(tx, [{ name: QUEUES.step, data: job, startAfter: opening }]);
        return 'deferred';
      }

      const scheduledAt = run.nextTriggerAt ?? at;
      let deliver: (() => Promise<void>) | undefined;
      try {
        const late = lateDateStep(run, step);
        if (late) await tx.stepRun.create({ data: { enrollmentId: run.id, stepId: step.id, status: 'SKIPPED', scheduledAt, executedAt: at, error: late } });
        else if (step.type === 'EMAIL') deliver = await sendEmailStep(tx, run, step, scheduledAt, at);
        else await createDiscountStep(tx, run, step, scheduledAt, at);
        // A final attempt hands the email over here, so that a refusal becomes the run's failure.
        if (options.finalAttempt) await deliver?.();
      } catch (error) {
        if (!options.finalAttempt && !(error instanceof StepFailure)) throw error;
        const message = error instanceof Error ? error.message : String(error);
        // The email step may have recorded its message before the relay refused it.
        const failed = { status: 'FAILED' as const, executedAt: at, error: message };
        const stepRun = await tx.stepRun.upsert({
          where: { enrollmentId_stepId: { enrollmentId: run.id, stepId: step.id } },
          create: { enrollmentId: run.id, stepId: step.id, scheduledAt, ...failed },
          update: failed,
        });
        if (stepRun.messageId) {
          await tx.message.update({ where: { id: stepRun.messageId }, data: { status: 'FAILED', sentAt: null, error: message } });
        }
        await setRunStatus(tx, run, 'FAILED', `step ${step.position} failed: ${message}`);
        await runEnded(tx, run.sequence);
        return 'executed';
      }
      await advance(tx, run, step.position, at);
      // Otherwise the relay gets it last, once the run has moved on: a crash after the
      // relay accepted it and before the commit (the one way an email goes out twice,
      // with the same Message-ID) has little left to hit. A refusal rolls it all back.
      if (!options.finalAttempt) await deliver?.();
      return 'executed';
    },
    { timeout: 60_000, maxWait: 30_000 },
  );
}

/** Points the run at its next step, or completes it after the last. */
async function advance(tx: Tx, run: LoadedRun, position: number, at: Date) {
  const next = await tx.step.findFirst({
    where: { sequenceId: run.sequenceId, position: { gt: position } },
    orderBy: { position: 'asc' },
  });
  if (!next) {
    await setRunStatus(tx, run, 'COMPLETED', null, { currentStepPosition: position });
    await runEnded(tx, run.sequence);
    return;
  }
  const delaySeconds = delayToSeconds({ days: next.delayDays, hours: next.delayHours, minutes: next.delayMinutes });
  const timing = { ...run.sequence, sendWindow: run.sequence.sendWindow as SendWindow | null };
  const date = sequenceRunDate(run.sequence, run.entryEvent, run.subscriber.attributes);
  const due = stepDueAt(timing, { delaySeconds, dateOffsetMinutes: next.dateOffsetMinutes }, at, date);
  await tx.enrollment.update({ where: { id: run.id }, data: { currentStepPosition: next.position, nextTriggerAt: due } });
  await enqueue(tx, [{ name: QUEUES.step, data: { enrollmentId: run.id, stepId: next.id }, startAfter: due }]);
}

/**
 * DATE sequences: the reason to skip a step whose time had passed when the run
 * started, or null. A run without its date fails (it cannot be timed).
 */
function lateDateStep(run: LoadedRun, step: Step): string | null {
  if (run.sequence.sequenceType !== 'DATE') return null;
  const date = sequenceRunDate(run.sequence, run.entryEvent, run.subscriber.attributes);
  if (!date) {
    throw new StepFailure(`no date at ${run.sequence.dateFieldPath} in the entry event or the subscriber's attributes`);
  }
  const due = dateStepDueAt(date, step.dateOffsetMinutes ?? 0, run.sequence.sendWindow as SendWindow | null);
  return lateDateStepReason(due, run.startedAt);
}

/** Records the email step; returns the hand-off to the relay, for the caller to make last. */
async function sendEmailStep(
  tx: Tx,
  run: LoadedRun,
  step: Step,
  scheduledAt: Date,
  at: Date,
): Promise<(() => Promise<void>) | undefined> {
  const subscriber = run.subscriber;
  // The policy point for every send: opted-out subscribers get only transactional email.
  if (subscriber.status !== 'ACTIVE' && !run.sequence.transactional) {
    await tx.stepRun.create({
      data: {
        enrollmentId: run.id,
        stepId: step.id,
        status: 'SKIPPED',
        scheduledAt,
        executedAt: at,
        error: `subscriber is ${subscriber.status.toLowerCase()}`,
      },
    });
    return;
  }
  // The id comes first: the email's tracking and unsubscribe links carry it.
  const messageId = uuidv7(at.getTime());
  const rendered = await renderTrackedStep(step, {
    context: await mergeContext(tx, run),
    transactional: run.sequence.transactional,
    workspaceId: run.workspaceId,
    messageId,
    keys: await trackingKeys(),
  });
  const { transport, from } = mailer();
  const smtpMessageId = `<${run.id}.${step.id}@${senderDomain()}>`;
  const message = await tx.message.create({
    data: {
      id: messageId,
      workspaceId: run.workspaceId,
      enrollmentId: run.id,
      stepId: step.id,
      subscriberId: subscriber.id,
      to: subscriber.email,
      from,
      subject: rendered.subject,
      previewText: rendered.previewText,
      html: rendered.html,
      text: rendered.text,
      status: 'SENT',
      sentAt: at,
      attempts: 1,
      smtpMessageId,
    },
  });
  await tx.stepRun.create({
    data: { enrollmentId: run.id, stepId: step.id, status: 'SENT', scheduledAt, executedAt: at, messageId: message.id, attempts: 1 },
  });
  await notifyStatsChanged(tx, run.workspaceId);
  // If the relay refuses, the transaction rolls back and the job is retried.
  return () =>
    transport.send({
      from,
      to: subscriber.email,
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
      messageId: smtpMessageId,
      headers: { 'X-Stepwise-Run': run.id, 'X-Stepwise-Step': step.id, ...rendered.headers },
    });
}

/** What merge tags see: the subscriber now, the run's entry event as it was, its latest discount. */
export async function mergeContext(tx: Tx, run: { id: string; subscriber: Subscriber; entryEvent: unknown }): Promise<MergeTagContext> {
  const discount = await tx.discount.findFirst({ where: { enrollmentId: run.id }, orderBy: { createdAt: 'desc' } });
  return {
    subscriber: {
      email: run.subscriber.email,
      firstName: run.subscriber.firstName,
      lastName: run.subscriber.lastName,
      attributes: (run.subscriber.attributes ?? {}) as Record<string, unknown>,
    },
    event: (run.entryEvent ?? null) as Record<string, unknown> | null,
    discount: discount && {
      code: discount.code,
      percentOff: discount.percentOff,
      amountOff: discount.amountOff,
      currency: discount.currency,
      expiresAt: discount.expiresAt,
    },
  };
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A code that is hard to guess and easy to type (no 0/O, 1/I); 32 letters, so every byte maps evenly. */
export function discountCode(prefix: string | null | undefined, bytes: Buffer = randomBytes(10)): string {
  const body = [...bytes].map((b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join('');
  return prefix ? `${prefix}-${body}` : body;
}

async function createDiscountStep(tx: Tx, run: LoadedRun, step: Step, scheduledAt: Date, at: Date) {
  const terms = step.discount as unknown as DiscountTerms;
  if (terms.provider !== 'BUILTIN' && terms.provider !== 'STRIPE' && terms.provider !== 'SHOPIFY') {
    throw new StepFailure(`${String(terms.provider)} discounts need the ${String(terms.provider)} integration, which is not connected`);
  }
  // Providers are asked idempotently, so a retry must send the same expiry:
  // count from when the step fell due, which stays the same across attempts.
  const from = terms.provider === 'BUILTIN' ? at : scheduledAt;
  const expiresAt = terms.expiresAt
    ? new Date(terms.expiresAt)
    : terms.expiresInHours
      ? new Date(from.getTime() + terms.expiresInHours * 3_600_000)
      : null;
  const issued =
    terms.provider === 'STRIPE'
      ? await issueStripeDiscount(tx, run, step, terms, expiresAt)
      : terms.provider === 'SHOPIFY'
        ? await issueShopifyDiscount(tx, run, step, terms, scheduledAt, expiresAt)
        : { provider: 'BUILTIN', code: discountCode(terms.codePrefix), externalId: null, externalCouponId: null };
  await tx.discount.create({
    data: {
      workspaceId: run.workspaceId,
      enrollmentId: run.id,
      stepId: step.id,
      subscriberId: run.subscriberId,
      provider: issued.provider,
      code: issued.code,
      externalId: issued.externalId,
      externalCouponId: issued.externalCouponId,
      discountType: terms.discountType,
      percentOff: terms.percentOff ?? null,
      amountOff: terms.amountOff ?? null,
      currency: terms.currency ?? null,
      duration: terms.duration,
      durationInMonths: terms.durationInMonths ?? null,
      planIds: terms.planIds ?? [],
      maxRedemptions: terms.maxRedemptions ?? null,
      lockedToSubscriber: terms.lockToSubscriber,
      expiresAt,
      createdAt: at,
    },
  });
  await tx.stepRun.create({ data: { enrollmentId: run.id, stepId: step.id, status: 'SENT', scheduledAt, executedAt: at } });
}

/**
 * Creates the coupon and promotion code in the workspace's Stripe account. The code
 * and the idempotency keys are derived from run and step, so a retry (after a
 * timeout, a crash, or a rolled-back commit) gets Stripe's first answer back.
 * Stripe refusing the request (4xx) fails the step now; the network, 429 and 5xx
 * are thrown to pg-boss to retry, and recorded as the failure on the last attempt.
 */
async function issueStripeDiscount(tx: Tx, run: LoadedRun, step: Step, terms: DiscountTerms, expiresAt: Date | null) {
  let secretKey: string;
  try {
    secretKey = await stripeSecretKey(tx, run.workspaceId);
  } catch (error) {
    throw new StepFailure(error instanceof Error ? error.message : String(error));
  }
  // Stripe codes take letters, digits and dashes.
  const prefix = terms.codePrefix?.replaceAll('_', '-');
  const code = discountCode(prefix, providerSecrets()!.derive(`discount-code:${run.id}:${step.id}`, 10));
  try {
    const created = await createStripeDiscount({
      secretKey,
      idempotencyKey: `stepwise-${run.id}-${step.id}`,
      code,
      terms,
      expiresAt,
      customer: terms.lockToSubscriber
        ? {
            email: run.subscriber.email,
            name: [run.subscriber.firstName, run.subscriber.lastName].filter(Boolean).join(' ') || null,
          }
        : null,
      metadata: {
        stepwise_workspace: run.workspaceId,
        stepwise_run: run.id,
        stepwise_step: step.id,
        stepwise_subscriber: run.subscriberId,
      },
    });
    return { provider: 'STRIPE', code: created.code, externalId: created.promotionCodeId, externalCouponId: created.couponId };
  } catch (error) {
    const message = describeStripeError(error);
    if (isTransientStripeError(error)) throw new Error(message, { cause: error });
    throw new StepFailure(message);
  }
}

/**
 * Creates the discount code in the workspace's Shopify shop. The code is derived
 * from run and step and looked up before it is created, so a retry finds the first
 * attempt's discount. Shopify refusing (userErrors, 4xx) fails the step now;
 * the network, throttling and 5xx go back to pg-boss to retry.
 */
async function issueShopifyDiscount(tx: Tx, run: LoadedRun, step: Step, terms: DiscountTerms, startsAt: Date, expiresAt: Date | null) {
  let credentials: { shopDomain: string; accessToken: string };
  try {
    credentials = await shopifyCredentials(tx, run.workspaceId);
  } catch (error) {
    throw new StepFailure(error instanceof Error ? error.message : String(error));
  }
  const code = discountCode(terms.codePrefix, providerSecrets()!.derive(`discount-code:${run.id}:${step.id}`, 10));
  try {
    const created = await createShopifyDiscount({
      ...credentials,
      code,
      title: `${(terms.name ?? terms.label)?.trim() || 'Stepwise discount'} (${code})`,
      terms,
      startsAt,
      expiresAt,
      customer: terms.lockToSubscriber
        ? { email: run.subscriber.email, firstName: run.subscriber.firstName, lastName: run.subscriber.lastName }
        : null,
    });
    return { provider: 'SHOPIFY', code, externalId: created.discountId, externalCouponId: null };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof ShopifyUnavailable) throw new Error(message, { cause: error });
    throw new StepFailure(message);
  }
}

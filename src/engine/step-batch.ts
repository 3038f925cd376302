// Due steps in batches. `claimSteps` runs inside the batch's transaction: it
// locks the batch's runs, loads what the steps need in a few set-based queries,
// lets the run machine decide, and writes the outcome in bulk: skips, deferrals,
// and for each email a message claimed as QUEUED (with its step run) — the
// outbox. Nothing in it waits on the network. After the commit each hand-off
// goes to the relay (outbox.ts); `markSent` records the accepted ones, then
// `recordAnswers` finishes a group of answers in one transaction, which moves the
// runs on. Discount steps call their provider after the commit too, then `runDiscount`.
import type { MergeTagContext } from '../domain/merge-tags.js';
import { decide, type Decision, type RunInput } from '../domain/run-machine/index.js';
import type { DiscountTerms } from '../domain/sequence-input.js';
import { trackingUrl, uuidv7, type TrackingKeys } from '../domain/tracking-links.js';
import type { Tx } from '../db/client.js';
import { sequenceRunDate } from '../domain/schedule.js';
import { dbExecute, PREPARED_ROWS, transaction, txExecute, txQuery } from '../db/transaction.js';
import { Prisma, type Message, type Step, type Subscriber } from '../generated/prisma/client.js';
import { DiscountRefused, issueDiscount } from '../integrations/discounts.js';
import { renderTrackedStep } from '../mail/tracked-email.js';
import { senderDomain, type OutgoingMail } from '../mail/transport.js';
import { completeJobs, failJobs } from './boss.js';
import { storedTemplatesOf } from './compiled-emails.js';
import type { EngineContext } from './context.js';
import { apply, loadRuns, machineKey, transitionRuns, type Applied, type RunRef } from './lifecycle.js';
import { QUEUES } from './queues.js';
import { notifyStats } from './run-status.js';

export interface DueStep {
  /** The pg-boss job, or null when a step is executed directly. */
  jobId: string | null;
  enrollmentId: string;
  stepId: string;
  /** The job's last attempt: a failure now fails the run. */
  finalAttempt: boolean;
}

export type StepOutcome = 'executed' | 'deferred' | 'skipped';

interface HandoffBase {
  item: DueStep;
  ref: RunRef;
  stepId: string;
}

export interface EmailHandoff extends HandoffBase {
  kind: 'email';
  messageId: string;
  mail: OutgoingMail;
  /** When markSent recorded it SENT: its run moves on from that instant, as its history says. */
  sentAt?: Date;
}

export interface DiscountHandoff extends HandoffBase {
  kind: 'discount';
  terms: DiscountTerms;
  scheduledAt: Date;
  subscriber: Pick<Subscriber, 'id' | 'email' | 'firstName' | 'lastName'>;
}

export type Handoff = EmailHandoff | DiscountHandoff;

export interface Claimed {
  /** Per item: its outcome now, or 'pending' when a hand-off finishes it. */
  outcomes: (StepOutcome | 'pending')[];
  handoffs: Handoff[];
  /** Items whose run another transaction holds (skipLocked): to be tried again shortly. */
  busy: DueStep[];
}

/**
 * Claims a batch of due steps in `tx` (see the file header). `complete`: the
 * queue of the items' jobs; those the claim finishes (all but the hand-offs',
 * which stay active until recorded; busy ones included) complete in its last statement.
 */
export async function claimSteps(
  ctx: EngineContext,
  tx: Tx,
  items: readonly DueStep[],
  options: { skipLocked: boolean; complete?: string },
): Promise<Claimed> {
  const at = ctx.clock.now();
  const outcomes: Claimed['outcomes'] = items.map(() => 'skipped');
  const handoffs: Handoff[] = [];
  const busy: DueStep[] = [];
  if (!items.length) return { outcomes, handoffs, busy };

  const { runs, sequences } = await loadRuns(tx, items.map((i) => i.enrollmentId), { skipLocked: options.skipLocked });
  const missing = items.filter((i) => !runs.has(i.enrollmentId)).map((i) => i.enrollmentId);
  const locked = new Set<string>();
  if (options.skipLocked && missing.length) {
    const existing = await txQuery<{ id: string }>(tx, Prisma.sql`SELECT id::text FROM "Enrollment" WHERE id = ANY(${missing}::uuid[])`);
    for (const { id } of existing) locked.add(id);
  }
  if (!runs.size) {
    items.forEach((item) => locked.has(item.enrollmentId) && busy.push(item));
    if (options.complete) await completeJobs(ctx, tx, options.complete, jobIdsOf(items.map((item) => ({ item }))));
    return { outcomes, handoffs, busy };
  }
  const { stepById, subscriberById, entryOf, priorOf, discountOf } = await loadClaimFacts(
    tx,
    items.filter((i) => runs.has(i.enrollmentId)),
  );
  const keys = await ctx.tracking.keys();
  const { from } = ctx.mail;
  const domain = senderDomain(from);

  const applied: Applied[] = [];
  const changedRuns = new Set<string>();
  const seen = new Set<string>();
  const messages: MessageRow[] = [];
  const stepRuns: StepRunRow[] = [];
  const statsOf = new Set<string>();

  for (const [index, item] of items.entries()) {
    const run = runs.get(item.enrollmentId);
    if (!run) {
      if (locked.has(item.enrollmentId)) busy.push(item);
      continue;
    }
    // One change per run per batch (the bulk UPDATE writes each run once): a second goes round again.
    if (changedRuns.has(run.ref.id)) {
      busy.push(item);
      continue;
    }
    const key = `${run.ref.id}:${item.stepId}`;
    const prior = priorOf.get(key);
    const subscriber = subscriberById.get(run.ref.id)!;
    // The retry of the job that claimed this email, whose worker died before the
    // relay's answer was recorded: it hands the same message over again.
    if (prior?.message?.status === 'QUEUED' && item.jobId && prior.message.claimJobId === item.jobId && !seen.has(key)) {
      seen.add(key);
      const m = prior.message;
      handoffs.push({
        kind: 'email',
        item,
        ref: run.ref,
        stepId: item.stepId,
        messageId: m.id,
        mail: { from: m.from ?? from, to: m.to, subject: m.subject, html: m.html, text: m.text ?? '', messageId: m.smtpMessageId, headers: resentHeaders(keys, run.ref.workspaceId, m.id, sequences.get(machineKey(run.ref))!.transactional, run.ref.id, item.stepId) },
      });
      outcomes[index] = 'pending';
      continue;
    }
    const sequence = sequences.get(machineKey(run.ref))!;
    const runDate = sequenceRunDate(
      { sequenceType: sequence.sequenceType ?? 'INTERVAL', dateFieldPath: sequence.dateFieldPath ?? null },
      entryOf.get(run.ref.id) ?? null,
      subscriber.attributes,
    );
    // The retry of a job whose email the outbox recorded sent (markSent) but whose
    // worker died before moving the run on: it moves on now, nothing is sent.
    const sentByThisJob = prior?.message && item.jobId && prior.message.claimJobId === item.jobId && !['QUEUED', 'FAILED'].includes(prior.message.status);
    const decision: Decision = decide(
      run.state,
      sequence,
      sentByThisJob && !seen.has(key) ? { kind: 'stepDone', stepId: item.stepId } : { kind: 'stepDue', stepId: item.stepId, alreadyRun: Boolean(prior) || seen.has(key), subscriberStatus: subscriber.status },
      at,
      { runDate },
    );
    seen.add(key);
    const scheduledAt = run.state.nextTriggerAt ?? at;
    if (decision.changed || decision.schedule) {
      applied.push({ ref: run.ref, decision });
      changedRuns.add(run.ref.id);
      run.state = decision.next;
    }
    const action = decision.action;
    if (decision.outcome === 'deferred') outcomes[index] = 'deferred';
    if (!action) continue;
    if (action.kind === 'skip') {
      stepRuns.push({ enrollmentId: run.ref.id, stepId: action.stepId, status: 'SKIPPED', scheduledAt, executedAt: at, error: action.reason, createdAt: at });
      outcomes[index] = 'executed';
      continue;
    }
    if (action.kind === 'fail') {
      stepRuns.push({ enrollmentId: run.ref.id, stepId: action.stepId, status: 'FAILED', scheduledAt, executedAt: at, error: action.error, createdAt: at });
      outcomes[index] = 'executed';
      continue;
    }
    const step = stepById.get(action.stepId)!;
    if (action.kind === 'discount') {
      handoffs.push({
        kind: 'discount',
        item,
        ref: run.ref,
        stepId: step.id,
        terms: step.discount as unknown as DiscountTerms,
        scheduledAt,
        subscriber,
      });
      outcomes[index] = 'pending';
      continue;
    }
    // The id comes first: the email's tracking and unsubscribe links carry it.
    const messageId = uuidv7(at.getTime());
    const discount = discountOf.get(run.ref.id);
    const context: MergeTagContext = {
      subscriber: {
        email: subscriber.email,
        firstName: subscriber.firstName,
        lastName: subscriber.lastName,
        attributes: (subscriber.attributes ?? {}) as Record<string, unknown>,
      },
      event: (entryOf.get(run.ref.id) ?? null) as Record<string, unknown> | null,
      discount: discount
        ? { code: discount.code, percentOff: discount.percentOff, amountOff: discount.amountOff, currency: discount.currency, expiresAt: discount.expiresAt }
        : null,
    };
    const rendered = await renderTrackedStep(step, { context, transactional: sequence.transactional, workspaceId: run.ref.workspaceId, messageId, keys });
    const smtpMessageId = `<${run.ref.id}.${step.id}@${domain}>`;
    messages.push({
      id: messageId,
      workspaceId: run.ref.workspaceId,
      enrollmentId: run.ref.id,
      stepId: step.id,
      subscriberId: subscriber.id,
      to: subscriber.email,
      from,
      subject: rendered.subject,
      previewText: rendered.previewText,
      html: rendered.html,
      text: rendered.text,
      status: 'QUEUED',
      smtpMessageId,
      claimJobId: item.jobId,
      createdAt: at,
    });
    stepRuns.push({ enrollmentId: run.ref.id, stepId: step.id, status: 'SENT', scheduledAt, executedAt: at, messageId, attempts: 1, createdAt: at });
    statsOf.add(run.ref.workspaceId);
    handoffs.push({
      kind: 'email',
      item,
      ref: run.ref,
      stepId: step.id,
      messageId,
      mail: {
        from,
        to: subscriber.email,
        subject: rendered.subject,
        html: rendered.html,
        text: rendered.text,
        messageId: smtpMessageId,
        headers: { 'X-Stepwise-Run': run.ref.id, 'X-Stepwise-Step': step.id, ...rendered.headers },
      },
    });
    outcomes[index] = 'pending';
  }

  await insertClaimed(tx, messages, stepRuns, [...statsOf], at);
  const done = items.filter((_, index) => outcomes[index] !== 'pending').map((item) => ({ item }));
  await apply(ctx, tx, applied, options.complete ? { complete: { name: options.complete, ids: jobIdsOf(done) } } : {});
  return { outcomes, handoffs, busy };
}

/** `compiled`: the step's stored templates (CompiledEmail rows, key → template), filled without MJML. */
type StepRow = Pick<Step, 'id' | 'subject' | 'previewText' | 'blocks' | 'discount'> & { compiled: Record<string, unknown> | null };
type ClaimSubscriber = Pick<Subscriber, 'id' | 'email' | 'firstName' | 'lastName' | 'attributes' | 'status'>;
type PriorMessage = Pick<Message, 'id' | 'status' | 'claimJobId' | 'from' | 'to' | 'subject' | 'html' | 'text' | 'smtpMessageId'>;
interface ClaimDiscount {
  code: string;
  percentOff: number | null;
  amountOff: number | null;
  currency: string | null;
  expiresAt: Date | null;
}

/**
 * What the batch's steps need besides runs and sequences, in one query: each
 * run's subscriber, entry event and latest discount (for merge tags), the step
 * run it may already have for its step (with its message), and each step's
 * content and stored templates (carried on its first row only).
 */
async function loadClaimFacts(tx: Tx, items: readonly DueStep[]) {
  const rows = await txQuery<
    {
      run: string;
      step: string;
      entryEvent: unknown;
      subscriber: ClaimSubscriber;
      prior: boolean;
      message: PriorMessage | null;
      discount: ClaimDiscount | null;
      content: StepRow | null;
    }
  >(
    tx,
    Prisma.sql`
    SELECT i.run::text AS run, i.step::text AS step, e."entryEvent",
      json_build_object('id', sub.id, 'email', sub.email, 'firstName', sub."firstName", 'lastName', sub."lastName",
        'attributes', sub.attributes, 'status', sub.status) AS subscriber,
      sr.id IS NOT NULL AS prior,
      CASE WHEN m.id IS NOT NULL THEN json_build_object('id', m.id, 'status', m.status, 'claimJobId', m."claimJobId", 'from', m."from",
        'to', m."to", 'subject', m.subject, 'html', m.html, 'text', m.text, 'smtpMessageId', m."smtpMessageId") END AS message,
      d.discount,
      CASE WHEN row_number() OVER (PARTITION BY i.step ORDER BY i.run) = 1 THEN
        (SELECT json_build_object('id', st.id, 'subject', st.subject, 'previewText', st."previewText", 'blocks', st.blocks, 'discount', st.discount,
           'compiled', ${storedTemplatesOf(Prisma.raw('st.id'))})
         FROM "Step" st WHERE st.id = i.step) END AS content
    FROM (SELECT DISTINCT run, step FROM unnest(${items.map((i) => i.enrollmentId)}::uuid[], ${items.map((i) => i.stepId)}::uuid[]) AS u(run, step)) i
    JOIN "Enrollment" e ON e.id = i.run
    JOIN "Subscriber" sub ON sub.id = e."subscriberId"
    LEFT JOIN "StepRun" sr ON sr."enrollmentId" = i.run AND sr."stepId" = i.step
    LEFT JOIN "Message" m ON m.id = sr."messageId"
    LEFT JOIN LATERAL (
      SELECT json_build_object('code', x.code, 'percentOff', x."percentOff", 'amountOff', x."amountOff", 'currency', x.currency,
        'expiresAt', to_char(x."expiresAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) AS discount
      FROM "Discount" x WHERE x."enrollmentId" = i.run ORDER BY x."createdAt" DESC LIMIT 1) d ON true`,
    { prepared: items.length <= PREPARED_ROWS },
  );
  const stepById = new Map<string, StepRow>();
  const subscriberById = new Map<string, ClaimSubscriber>();
  const entryOf = new Map<string, unknown>();
  const priorOf = new Map<string, { message: PriorMessage | null }>();
  const discountOf = new Map<string, ClaimDiscount>();
  for (const row of rows) {
    if (row.content) stepById.set(row.content.id, row.content);
    subscriberById.set(row.run, row.subscriber);
    entryOf.set(row.run, row.entryEvent);
    if (row.prior) priorOf.set(`${row.run}:${row.step}`, { message: row.message });
    if (row.discount) discountOf.set(row.run, { ...row.discount, expiresAt: row.discount.expiresAt ? new Date(row.discount.expiresAt) : null });
  }
  return { stepById, subscriberById, entryOf, priorOf, discountOf };
}

// The batch's rows in one statement, a bound array per column (unnest), the
// stats NOTIFY beside them. Not createMany: the CPU profile of the step phase
// showed Prisma 7's client spending about half the worker's time preparing
// createMany's parameters (client.js `Fd`, under the evaluation of its generated
// defaults), more than rendering and SQL together.
type MessageRow = Prisma.MessageCreateManyInput & { id: string; status: 'QUEUED'; createdAt: Date };
type StepRunRow = Omit<Prisma.StepRunCreateManyInput, 'scheduledAt' | 'executedAt' | 'createdAt'> & { scheduledAt: Date; executedAt: Date; createdAt: Date };

async function insertClaimed(tx: Tx, messages: readonly MessageRow[], stepRuns: readonly StepRunRow[], statsOf: readonly string[], at: Date) {
  const ctes: Prisma.Sql[] = [];
  if (messages.length) {
    const col = <T>(pick: (r: MessageRow) => T) => messages.map(pick);
    ctes.push(Prisma.sql`messages AS (
    INSERT INTO "Message" (id, "workspaceId", "enrollmentId", "stepId", "subscriberId", "to", "from", subject, "previewText", html, text,
      status, "smtpMessageId", "claimJobId", "createdAt")
    SELECT id, workspace, enrollment, step, subscriber, recipient, sender, subject, preview, html, text, status::"MessageStatus", smtp, job, at
    FROM unnest(${col((r) => r.id)}::uuid[], ${col((r) => r.workspaceId)}::uuid[], ${col((r) => r.enrollmentId ?? null)}::uuid[],
      ${col((r) => r.stepId ?? null)}::uuid[], ${col((r) => r.subscriberId ?? null)}::uuid[], ${col((r) => r.to)}::text[],
      ${col((r) => r.from ?? null)}::text[], ${col((r) => r.subject)}::text[], ${col((r) => r.previewText ?? null)}::text[],
      ${col((r) => r.html)}::text[], ${col((r) => r.text ?? null)}::text[], ${col((r) => r.status)}::text[],
      ${col((r) => r.smtpMessageId)}::text[], ${col((r) => r.claimJobId ?? null)}::uuid[], ${col((r) => r.createdAt)}::timestamp(3)[]
    ) AS m(id, workspace, enrollment, step, subscriber, recipient, sender, subject, preview, html, text, status, smtp, job, at)
    RETURNING 1)`);
  }
  if (stepRuns.length) {
    const col = <T>(pick: (r: StepRunRow) => T) => stepRuns.map(pick);
    ctes.push(Prisma.sql`step_runs AS (
    INSERT INTO "StepRun" (id, "enrollmentId", "stepId", status, "scheduledAt", "executedAt", attempts, error, "messageId", "createdAt")
    SELECT id, enrollment, step, status::"StepRunStatus", scheduled, executed, attempts, error, message, created
    FROM unnest(${stepRuns.map(() => uuidv7(at.getTime()))}::uuid[], ${col((r) => r.enrollmentId)}::uuid[], ${col((r) => r.stepId)}::uuid[],
      ${col((r) => r.status ?? 'SCHEDULED')}::text[], ${col((r) => r.scheduledAt)}::timestamp(3)[], ${col((r) => r.executedAt)}::timestamp(3)[],
      ${col((r) => r.attempts ?? 0)}::int[], ${col((r) => r.error ?? null)}::text[], ${col((r) => r.messageId ?? null)}::uuid[],
      ${col((r) => r.createdAt)}::timestamp(3)[]
    ) AS s(id, enrollment, step, status, scheduled, executed, attempts, error, message, created)
    RETURNING 1)`);
  }
  if (!ctes.length) return;
  await txExecute(tx, Prisma.sql`WITH ${Prisma.join(ctes, ', ')} SELECT 1`, { prepared: messages.length + stepRuns.length <= PREPARED_ROWS });
  // Stats subscriptions of these workspaces wake once it has committed.
  notifyStats(tx, statsOf);
}

/** The headers of a message sent again (as renderTrackedStep made them the first time). */
function resentHeaders(keys: TrackingKeys, workspaceId: string, messageId: string, transactional: boolean, runId: string, stepId: string): Record<string, string> {
  const headers: Record<string, string> = { 'X-Stepwise-Run': runId, 'X-Stepwise-Step': stepId };
  if (!transactional) {
    headers['List-Unsubscribe'] = `<${trackingUrl(keys, { kind: 'unsubscribe', workspaceId, messageId })}>`;
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  return headers;
}

const jobIdsOf = (handoffs: readonly Pick<Handoff, 'item'>[]) => handoffs.flatMap((h) => (h.item.jobId ? [h.item.jobId] : []));

/** Emails the relay accepted: SENT, their runs move on, their jobs are done. One transaction. */
export async function recordSent(ctx: EngineContext, handoffs: readonly EmailHandoff[]): Promise<void> {
  await recordAnswers(ctx, handoffs, []);
}

/**
 * An email the relay refused (or could not be reached for). Before the final
 * attempt the claim is undone and the job retried with backoff: no trace, the run
 * stays on its step. On the final attempt the step, message and run fail.
 * Returns true when the job was left to retry (the caller rethrows for a direct call).
 */
export async function recordRefused(ctx: EngineContext, handoff: EmailHandoff, error: unknown): Promise<boolean> {
  return (await recordAnswers(ctx, [], [{ handoff, error }])).has(handoff.messageId);
}

export interface Refusal {
  handoff: EmailHandoff;
  error: unknown;
}

// Feedback (a delivery webhook, an open) can reach a message before this mark
// commits: it keeps that later status and still gets its sentAt.
const markSentSql = (handoffs: readonly EmailHandoff[], at: Date) => Prisma.sql`
  UPDATE "Message"
  SET status = CASE WHEN status = 'QUEUED' THEN 'SENT'::"MessageStatus" ELSE status END,
      "sentAt" = ${at}, attempts = attempts + 1
  WHERE id = ANY(${handoffs.map((h) => h.messageId)}::uuid[]) AND "sentAt" IS NULL AND status <> 'FAILED'`;

/**
 * Marks accepted emails SENT in one statement of its own, the outbox's first
 * record: it closes their duplicate window at once, before their runs move on
 * (recordAnswers with `marked`). A crash in between leaves the job active; its
 * retry finds the message sent by that job and moves the run on (claimSteps).
 */
export async function markSent(ctx: EngineContext, handoffs: readonly EmailHandoff[]): Promise<void> {
  if (!handoffs.length) return;
  const at = ctx.clock.now();
  // Prepared: one shape, sent for a few messages at a time (at most the outbox's slots).
  await dbExecute(ctx.db, markSentSql(handoffs, at), { prepared: true });
  for (const handoff of handoffs) handoff.sentAt = at;
}

/**
 * The relay's answers for a group of emails, in one transaction of set-based
 * statements (the outbox's group commit): accepted ones as recordSent says
 * (`marked`: markSent already recorded them SENT), refused ones as recordRefused
 * says; every run moves on in one transition. Returns the Message ids of the
 * refusals left to retry.
 */
export async function recordAnswers(
  ctx: EngineContext,
  sent: readonly EmailHandoff[],
  refused: readonly Refusal[],
  options: { marked?: boolean } = {},
): Promise<Set<string>> {
  if (!sent.length && !refused.length) return new Set();
  const errorOf = (r: Refusal) => (r.error instanceof Error ? r.error.message : String(r.error));
  const retry = refused.filter((r) => !r.handoff.item.finalAttempt);
  const failed = refused.filter((r) => r.handoff.item.finalAttempt);
  await transaction(
    ctx,
    async (tx) => {
      const at = ctx.clock.now();
      if (sent.length && !options.marked) await txExecute(tx, markSentSql(sent, at), { prepared: sent.length <= PREPARED_ROWS });
      if (retry.length) {
        // Not the final attempt: the claim is undone (step run, then its QUEUED message), the job retries.
        const ids = retry.map((r) => r.handoff.messageId);
        await txExecute(tx, Prisma.sql`
          WITH runs AS (DELETE FROM "StepRun" WHERE "messageId" = ANY(${ids}::uuid[]))
          DELETE FROM "Message" WHERE id = ANY(${ids}::uuid[]) AND status = 'QUEUED'`);
        const byError = new Map<string, EmailHandoff[]>();
        for (const r of retry) {
          const message = errorOf(r);
          const same = byError.get(message);
          if (same) same.push(r.handoff);
          else byError.set(message, [r.handoff]);
        }
        for (const [message, handoffs] of byError) await failJobs(ctx, tx, QUEUES.step, jobIdsOf(handoffs), { message });
      }
      if (failed.length) {
        // The final attempt: the step run and its message are FAILED.
        await txExecute(tx, Prisma.sql`
          WITH failed AS (
            UPDATE "StepRun" AS s SET status = 'FAILED', "executedAt" = ${at}, error = u.error
            FROM unnest(${failed.map((r) => r.handoff.ref.id)}::uuid[], ${failed.map((r) => r.handoff.stepId)}::uuid[], ${failed.map(errorOf)}::text[])
              AS u(run, step, error)
            WHERE s."enrollmentId" = u.run AND s."stepId" = u.step
            RETURNING s."messageId", u.error)
          UPDATE "Message" AS m SET status = 'FAILED', "sentAt" = NULL, error = f.error
          FROM failed f WHERE m.id = f."messageId"`);
      }
      // A run cancelled meanwhile keeps the step recorded and does not move on.
      const inputOf = new Map<string, RunInput>([
        ...sent.map((h): [string, RunInput] => [h.ref.id, { kind: 'stepDone', stepId: h.stepId }]),
        ...failed.map((r): [string, RunInput] => [r.handoff.ref.id, { kind: 'stepFailed', stepId: r.handoff.stepId, error: errorOf(r) }]),
      ]);
      const sentAt = new Map(sent.map((h) => [h.ref.id, h.sentAt ?? at]));
      // The sent ones' stats subscriptions wake, and their jobs complete, with the transition's statement.
      const notify = sent.map((h) => h.ref.workspaceId);
      const complete = { name: QUEUES.step, ids: jobIdsOf([...sent, ...failed.map((r) => r.handoff)]) };
      if (inputOf.size) await transitionRuns(ctx, tx, [...inputOf.keys()], (run) => inputOf.get(run.ref.id)!, { at: (run) => sentAt.get(run.ref.id) ?? at, notify, complete });
    },
    // Lean, as the claim: its statements go around Prisma; a few answers' prepared ones are planned once (as the claim's).
    { timeout: 60_000, lean: true, genericPlans: sent.length + refused.length <= PREPARED_ROWS },
  );
  return new Set(retry.map((r) => r.handoff.messageId));
}

async function failStep(ctx: EngineContext, tx: Tx, handoff: Handoff, message: string) {
  const at = ctx.clock.now();
  const failed = { status: 'FAILED' as const, executedAt: at, error: message };
  const stepRun = await tx.stepRun.upsert({
    where: { enrollmentId_stepId: { enrollmentId: handoff.ref.id, stepId: handoff.stepId } },
    create: { enrollmentId: handoff.ref.id, stepId: handoff.stepId, scheduledAt: at, createdAt: at, ...failed },
    update: failed,
  });
  if (stepRun.messageId) {
    await tx.message.update({ where: { id: stepRun.messageId }, data: { status: 'FAILED', sentAt: null, error: message } });
  }
  await transitionRuns(ctx, tx, [handoff.ref.id], { kind: 'stepFailed', stepId: handoff.stepId, error: message }, { at });
  if (handoff.item.jobId) await completeJobs(ctx, tx, QUEUES.step, [handoff.item.jobId]);
}

/**
 * A discount step: the provider is called with no transaction open, then the code
 * is recorded and the run moves on. A transient failure before the final attempt
 * leaves the job to retry (the provider's idempotency keys return the same code);
 * a refusal or the final attempt fails the run. Returns true when left to retry.
 */
export async function runDiscount(ctx: EngineContext, handoff: DiscountHandoff): Promise<{ retry: boolean; error?: unknown }> {
  const at = ctx.clock.now();
  let issued;
  try {
    issued = await issueDiscount({
      terms: handoff.terms,
      workspaceId: handoff.ref.workspaceId,
      runId: handoff.ref.id,
      stepId: handoff.stepId,
      subscriber: handoff.subscriber,
      scheduledAt: handoff.scheduledAt,
      at,
      secrets: ctx.db,
      integrations: ctx.integrations,
    });
  } catch (error) {
    return finishFailedDiscount(ctx, handoff, error, !(error instanceof DiscountRefused));
  }
  try {
    await transaction(ctx, async (tx) => {
      const { terms } = handoff;
      await tx.discount.create({
        data: {
          workspaceId: handoff.ref.workspaceId,
          enrollmentId: handoff.ref.id,
          stepId: handoff.stepId,
          subscriberId: handoff.ref.subscriberId,
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
          expiresAt: issued.expiresAt,
          createdAt: at,
        },
      });
      await tx.stepRun.create({
        data: { enrollmentId: handoff.ref.id, stepId: handoff.stepId, status: 'SENT', scheduledAt: handoff.scheduledAt, executedAt: at, createdAt: at },
      });
      await transitionRuns(ctx, tx, [handoff.ref.id], { kind: 'stepDone', stepId: handoff.stepId }, { at });
      if (handoff.item.jobId) await completeJobs(ctx, tx, QUEUES.step, [handoff.item.jobId]);
    });
    return { retry: false };
  } catch (error) {
    // The provider made it but the commit failed (a taken code, the database away): the retry asks again and gets the same answer.
    return finishFailedDiscount(ctx, handoff, error, true);
  }
}

async function finishFailedDiscount(ctx: EngineContext, handoff: DiscountHandoff, error: unknown, transient: boolean): Promise<{ retry: boolean; error?: unknown }> {
  const message = error instanceof Error ? error.message : String(error);
  if (transient && !handoff.item.finalAttempt) {
    const jobId = handoff.item.jobId;
    if (jobId) await transaction(ctx, (tx) => failJobs(ctx, tx, QUEUES.step, [jobId], { message }));
    return { retry: true, error };
  }
  await transaction(ctx, (tx) => failStep(ctx, tx, handoff, message));
  return { retry: false };
}

export type { Applied };

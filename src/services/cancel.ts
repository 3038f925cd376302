// Cancelling runs in bulk: by subscriber, by entry-event field values (dry run
// first), or by any AND of execution id, recipients, idempotency key and
// sequence slug. One UPDATE locks only the matched runs; a step being sent for
// one of them finishes first (it holds the run's row lock) and stays recorded.
import { z } from 'zod';
import { boundedJson, MAX_JSON_SCALAR_NODES } from '../domain/json-limits.js';
import { UserError, notFound } from '../domain/errors.js';
import { dotPathSchema } from '../domain/json-path.js';
import { tryDecodeId } from '../domain/public-id.js';
import type { Tx } from '../db/client.js';
import { transaction } from '../db/transaction.js';
import { Prisma, type EnrollmentStatus } from '../generated/prisma/client.js';
import { endRunsWhere } from '../engine/lifecycle.js';
import { OPEN_SQL as OPEN } from '../engine/run-status.js';
import { owned } from '../db/scope.js';
import type { Actor, Caller } from '../auth/actor.js';
import { parseInput } from './user-input.js';

const cancelEnrollmentsSchema = z
  .object({
    sequenceId: z.string(),
    subscriberId: z.string().nullish(),
    fieldPath: dotPathSchema('order.id').nullish(),
    fieldValues: boundedJson(z.array(z.json()).min(1, { message: 'must name at least one value' }).max(10_000), {
      maxBytes: 1024 * 1024,
      maxNodes: MAX_JSON_SCALAR_NODES,
    }).nullish(),
    dryRun: z.boolean().nullish(),
    reason: z.string().trim().max(500).nullish(),
    limit: z.int().min(1, { message: 'must be at least 1' }).max(1000, { message: 'must be at most 1000' }).nullish(),
  })
  .superRefine((input, ctx) => {
    if ((input.subscriberId == null) === (input.fieldValues == null)) {
      ctx.addIssue({ code: 'custom', path: ['subscriberId'], message: 'give exactly one of subscriberId or fieldValues' });
    }
    if (input.fieldPath != null && input.fieldValues == null) {
      ctx.addIssue({ code: 'custom', path: ['fieldPath'], message: 'only applies with fieldValues' });
    }
  });

export interface CancelledRun {
  enrollmentId: string;
  subscriberId: string;
  subscriberEmail: string;
  status: EnrollmentStatus;
  enrollmentKey: string | null;
}

export interface CancelEnrollmentsResult {
  sequenceId: string;
  dryRun: boolean;
  matchedCount: number;
  cancelledCount: number;
  enrollments: CancelledRun[];
  hasMore: boolean;
  message: string;
}

const plural = (n: number) => `${n} sequence enrollment${n === 1 ? '' : 's'}`;

/** The Sequenzy call: one subscriber's runs, or every open run whose entry event holds one of the values. */
export async function cancelEnrollments(actor: Caller, rawInput: unknown): Promise<CancelEnrollmentsResult> {
  const input = parseInput(cancelEnrollmentsSchema, rawInput, ['input']);
  const limit = input.limit ?? 100;
  // Field-value targeting is a dry run unless asked otherwise; subscriber targeting cancels.
  const dryRun = input.dryRun ?? input.fieldValues != null;
  return transaction(actor.runtime, async (tx) => {
      const sequence = await owned(tx, actor, 'Sequence', input.sequenceId, { field: ['input', 'sequenceId'] });

      let match: Prisma.Sql;
      if (input.subscriberId != null) {
        const subscriberId = tryDecodeId('Subscriber', input.subscriberId);
        if (!subscriberId) throw notFound('Subscriber', ['input', 'subscriberId']);
        match = Prisma.sql`e."subscriberId" = ${subscriberId}::uuid`;
      } else {
        const path = input.fieldPath ?? sequence.enrollmentFieldPath;
        if (!path) {
          throw new UserError('fieldPath is required: the sequence has no enrollmentFieldPath', ['input', 'fieldPath'], 'VALIDATION');
        }
        match = fieldValuesMatch(path, input.fieldValues!);
      }
      const where = Prisma.sql`e."sequenceId" = ${sequence.id}::uuid AND e.status IN ${OPEN} AND ${match}`;
      const reason = input.reason ?? 'cancelled';

      if (dryRun) {
        const [{ count }] = await tx.$queryRaw<[{ count: number }]>`SELECT count(*)::int AS count FROM "Enrollment" e WHERE ${where}`;
        const sample = await tx.$queryRaw<CancelledRun[]>`
          SELECT e.id AS "enrollmentId", e."subscriberId", s.email AS "subscriberEmail", e.status, e."enrollmentKey"
          FROM "Enrollment" e JOIN "Subscriber" s ON s.id = e."subscriberId"
          WHERE ${where} ORDER BY e."startedAt", e.id LIMIT ${limit}`;
        return {
          sequenceId: sequence.id,
          dryRun,
          matchedCount: count,
          cancelledCount: 0,
          enrollments: sample,
          hasMore: count > sample.length,
          message: `Would cancel ${plural(count)}.`,
        };
      }

      const cancelled = await endRunsWhere(actor.runtime, tx, where, { kind: 'cancel', reason }, { sample: limit });
      const sample = cancelled.rows;
      const emails = await tx.subscriber.findMany({
        where: { id: { in: [...new Set(sample.map((r) => r.subscriberId))] } },
        select: { id: true, email: true },
      });
      const emailOf = new Map(emails.map((s) => [s.id, s.email]));
      return {
        sequenceId: sequence.id,
        dryRun,
        matchedCount: cancelled.count,
        cancelledCount: cancelled.count,
        enrollments: sample.map((r) => ({
          enrollmentId: r.id,
          subscriberId: r.subscriberId,
          subscriberEmail: emailOf.get(r.subscriberId) ?? '',
          status: 'CANCELLED' as const,
          enrollmentKey: r.enrollmentKey,
        })),
        hasMore: cancelled.count > sample.length,
        message: `Cancelled ${plural(cancelled.count)}.`,
      };
    },
    { timeout: 120_000 },
  );
}

/**
 * The entry event holds one of `values` at `path`, compared as JSON (123 and "123"
 * differ). Containment (`@>`) lets Postgres use the GIN index on entryEvent; the
 * exact path comparison then rules out array-containment near misses.
 */
export function fieldValuesMatch(path: string, values: unknown[]): Prisma.Sql {
  const segments = path.split('.');
  const nest = (value: unknown) => segments.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
  const containment = Prisma.join(
    values.map((v) => Prisma.sql`e."entryEvent" @> ${JSON.stringify(nest(v))}::jsonb`),
    ' OR ',
  );
  const exact = Prisma.join(values.map((v) => Prisma.sql`${JSON.stringify(v)}::jsonb`));
  return Prisma.sql`(${containment}) AND (e."entryEvent" #> ${segments}::text[]) IN (${exact})`;
}

const cancelRunsSchema = z.object({
  executionId: z.string().nullish(),
  recipients: z.array(z.string().trim().min(1)).min(1, { message: 'must name at least one recipient' }).max(10_000).nullish(),
  idempotencyKey: z.string().nullish(),
  sequenceSlug: z.string().nullish(),
  reason: z.string().trim().max(500).nullish(),
});

/** The SuprSend call: every open run matching all the given filters. Returns their execution ids. */
export async function cancelRuns(actor: Caller, rawInput: unknown): Promise<string[]> {
  const input = parseInput(cancelRunsSchema, rawInput, ['input']);
  if (input.executionId == null && input.recipients == null && input.idempotencyKey == null && input.sequenceSlug == null) {
    throw new UserError(
      'at least one filter is required: executionId, recipients, idempotencyKey, sequenceSlug',
      ['input'],
      'FILTER_REQUIRED',
    );
  }
  const filters: Prisma.Sql[] = [Prisma.sql`e."workspaceId" = ${actor.workspaceId}::uuid`, Prisma.sql`e.status IN ${OPEN}`];
  if (input.executionId != null) {
    // An id that is not an execution id matches nothing (the AND is then empty).
    const id = tryDecodeId('Enrollment', input.executionId);
    filters.push(id ? Prisma.sql`e.id = ${id}::uuid` : Prisma.sql`FALSE`);
  }
  if (input.recipients != null) {
    const ids = input.recipients.map((r) => tryDecodeId('Subscriber', r)).filter((id): id is string => id !== null);
    const emails = input.recipients.filter((r) => r.includes('@')).map((r) => r.toLowerCase());
    filters.push(Prisma.sql`e."subscriberId" IN (
      SELECT s.id FROM "Subscriber" s WHERE s."workspaceId" = ${actor.workspaceId}::uuid
        AND (s.id = ANY(${ids}::uuid[]) OR s.email = ANY(${emails}::text[]) OR s."externalId" = ANY(${input.recipients}::text[])))`);
  }
  if (input.idempotencyKey != null) filters.push(Prisma.sql`e."idempotencyKey" = ${input.idempotencyKey}`);
  if (input.sequenceSlug != null) {
    filters.push(Prisma.sql`e."sequenceId" IN (
      SELECT q.id FROM "Sequence" q WHERE q."workspaceId" = ${actor.workspaceId}::uuid AND q.slug = ${input.sequenceSlug})`);
  }
  return transaction(actor.runtime, async (tx) => {
      const ended = await endRunsWhere(actor.runtime, tx, Prisma.join(filters, ' AND '), { kind: 'cancel', reason: input.reason ?? 'cancelled' });
      return ended.rows.map((r) => r.id);
    },
    { timeout: 120_000 },
  );
}

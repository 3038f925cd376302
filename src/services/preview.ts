// What each step of a sequence would send to one subscriber, and when: rendered
// exactly as the sender renders it, without sending or writing anything.
import { z } from 'zod';
import { boundedJson } from '../domain/json-limits.js';
import { delayToSeconds } from '../domain/delay.js';
import { emailSchema } from '../domain/email-address.js';
import { UserError } from '../domain/errors.js';
import type { MergeTagContext } from '../domain/merge-tags.js';
import { owned } from '../db/scope.js';
import { dateStepDueAt, dueAt, sequenceRunDate, type SendWindow } from '../domain/schedule.js';
import type { DiscountTerms } from '../domain/sequence-input.js';
import { placeholderDiscount } from '../domain/placeholder-discount.js';
import type { Db } from '../db/client.js';
import type { Step } from '../generated/prisma/client.js';
import { PREVIEW_MESSAGE_ID } from '../domain/tracking-links.js';
import { renderTrackedStep } from '../mail/tracked-email.js';
import type { Actor, Caller } from '../auth/actor.js';
import { parseInput } from './user-input.js';

const previewSchema = z.object({
  sequenceId: z.string(),
  subscriberId: z.string().nullish(),
  email: emailSchema.nullish(),
  properties: boundedJson(z.record(z.string(), z.json(), { message: 'must be a JSON object' })).nullish(),
  startAt: z.date().nullish(),
});

export interface PreviewedStep {
  step: Step;
  dueAfterSeconds: number;
  dueAt: Date | null;
  subject: string | null;
  previewText: string | null;
  html: string | null;
  text: string | null;
}

export async function previewSequence(actor: Caller, rawInput: unknown): Promise<PreviewedStep[]> {
  const input = parseInput(previewSchema, rawInput, []);
  if (input.subscriberId != null && input.email != null) {
    throw new UserError('Give subscriberId or email, not both', ['email'], 'VALIDATION');
  }
  const { id: sequenceId } = await owned(actor.runtime.db, actor, 'Sequence', input.sequenceId, { field: ['sequenceId'] });
  const sequence = await actor.runtime.db.sequence.findUniqueOrThrow({
    where: { id: sequenceId },
    include: { steps: { where: { position: { not: null } }, orderBy: { position: 'asc' } } },
  });

  // A known subscriber as they are; an unknown email as a new subscriber would be.
  let subscriber: MergeTagContext['subscriber'] = { email: input.email ?? 'subscriber@example.com', firstName: null, lastName: null, attributes: {} };
  if (input.subscriberId != null || input.email != null) {
    const found =
      input.subscriberId != null
        ? await owned(actor.runtime.db, actor, 'Subscriber', input.subscriberId, { field: ['subscriberId'] })
        : await actor.runtime.db.subscriber.findFirst({ where: { email: input.email!, workspaceId: actor.workspaceId } });
    if (found) {
      subscriber = { email: found.email, firstName: found.firstName, lastName: found.lastName, attributes: (found.attributes ?? {}) as Record<string, unknown> };
    }
  }

  const window = sequence.sendWindow as SendWindow | null;
  const results: PreviewedStep[] = [];
  let discount: MergeTagContext['discount'] = null;
  let elapsed = 0;
  let previousDue = input.startAt ?? null;
  // DATE sequences time each step from the run's date (in the properties, else the subscriber's attributes).
  const date = sequenceRunDate(sequence, input.properties ?? null, subscriber.attributes);
  const isDate = sequence.sequenceType === 'DATE';
  for (const step of sequence.steps) {
    const delay = delayToSeconds({ days: step.delayDays, hours: step.delayHours, minutes: step.delayMinutes });
    elapsed = isDate ? (step.dateOffsetMinutes ?? 0) * 60 : elapsed + delay;
    const due = isDate ? date && dateStepDueAt(date, step.dateOffsetMinutes ?? 0, window) : previousDue && dueAt(previousDue, delay, window);
    previousDue = due;
    if (step.type === 'CREATE_DISCOUNT') {
      // The real code is made when the step runs; later emails preview a stand-in.
      discount = placeholderDiscount(step.discount as unknown as DiscountTerms, due);
      results.push({ step, dueAfterSeconds: elapsed, dueAt: due, subject: null, previewText: null, html: null, text: null });
      continue;
    }
    // Tracked like a sent email, for a stand-in message that does not exist: its links
    // record nothing and never redirect (tracking-routes.ts), whatever URL the
    // preview's properties put in them.
    const { headers: _headers, ...rendered } = await renderTrackedStep(step, {
      context: { subscriber, event: input.properties ?? null, discount },
      transactional: sequence.transactional,
      workspaceId: actor.workspaceId,
      messageId: PREVIEW_MESSAGE_ID,
      keys: await actor.runtime.tracking.keys(),
    });
    results.push({ step, dueAfterSeconds: elapsed, dueAt: due, ...rendered });
  }
  return results;
}

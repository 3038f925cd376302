// What a delivery webhook may say about a message, in Stepwise's own JSON shape
// or as an Amazon SES notification (delivered by SNS, wrapped or raw), reduced to
// one list of feedback events.
import { z } from 'zod';

export type FeedbackEvent =
  | { type: 'delivery'; messageRef: string }
  | { type: 'bounce'; messageRef: string; hard: boolean; detail: string | null }
  | { type: 'complaint'; messageRef: string; detail: string | null }
  | { type: 'reply'; messageRef: string; sentiment: 'POSITIVE' | 'NEUTRAL' | 'NEGATIVE' | null; fromPrimary: boolean | null };

const messageRef = z.string().trim().min(1, { message: 'must not be empty' }).max(1000);

/** Stepwise's shape: one event, or `{ "events": [...] }`. */
const stepwiseEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('delivery'), messageId: messageRef }),
  z.object({
    type: z.literal('bounce'),
    messageId: messageRef,
    bounceType: z.enum(['hard', 'soft']).default('hard'),
    diagnostic: z.string().max(2000).nullish(),
  }),
  z.object({ type: z.literal('complaint'), messageId: messageRef, feedbackType: z.string().max(200).nullish() }),
  z.object({
    type: z.literal('reply'),
    messageId: messageRef,
    sentiment: z.enum(['POSITIVE', 'NEUTRAL', 'NEGATIVE']).nullish(),
    fromPrimary: z.boolean().nullish(),
  }),
]);
const stepwiseBatch = z.object({ events: z.array(stepwiseEvent).min(1).max(1000) });

/** The parts of an SES event/notification that matter here. */
const sesNotification = z.object({
  notificationType: z.string().optional(),
  eventType: z.string().optional(),
  mail: z.object({
    messageId: z.string(),
    headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
    commonHeaders: z.object({ messageId: z.string().optional() }).passthrough().optional(),
  }),
  bounce: z
    .object({
      bounceType: z.string(),
      bounceSubType: z.string().optional(),
      bouncedRecipients: z.array(z.object({ emailAddress: z.string(), diagnosticCode: z.string().optional() })).optional(),
    })
    .optional(),
  complaint: z.object({ complaintFeedbackType: z.string().optional() }).passthrough().optional(),
});
const snsEnvelope = z.object({ Type: z.string(), Message: z.string().optional() });

export class FeedbackShapeError extends Error {}

function fromStepwise(event: z.infer<typeof stepwiseEvent>): FeedbackEvent {
  switch (event.type) {
    case 'delivery':
      return { type: 'delivery', messageRef: event.messageId };
    case 'bounce':
      return { type: 'bounce', messageRef: event.messageId, hard: event.bounceType === 'hard', detail: event.diagnostic ?? null };
    case 'complaint':
      return { type: 'complaint', messageRef: event.messageId, detail: event.feedbackType ?? null };
    case 'reply':
      return { type: 'reply', messageRef: event.messageId, sentiment: event.sentiment ?? null, fromPrimary: event.fromPrimary ?? null };
  }
}

function fromSes(notification: z.infer<typeof sesNotification>): FeedbackEvent[] {
  const mail = notification.mail;
  // Our Message-ID header identifies the message; SES's own id is the fallback.
  const header = mail.headers?.find((h) => h.name.toLowerCase() === 'message-id')?.value;
  const ref = header ?? mail.commonHeaders?.messageId ?? mail.messageId;
  const kind = notification.notificationType ?? notification.eventType;
  if (kind === 'Delivery') return [{ type: 'delivery', messageRef: ref }];
  if (kind === 'Bounce' && notification.bounce) {
    const b = notification.bounce;
    const diagnostic = b.bouncedRecipients?.map((r) => r.diagnosticCode).find(Boolean);
    const detail = [b.bounceType, b.bounceSubType, diagnostic].filter(Boolean).join(': ');
    return [{ type: 'bounce', messageRef: ref, hard: b.bounceType === 'Permanent', detail }];
  }
  if (kind === 'Complaint') {
    return [{ type: 'complaint', messageRef: ref, detail: notification.complaint?.complaintFeedbackType ?? null }];
  }
  return [];
}

export interface ParsedFeedback {
  events: FeedbackEvent[];
  /** An SNS subscription confirmation: the URL to visit to confirm it. */
  subscribeUrl?: string;
}

/** Reads a webhook body; throws FeedbackShapeError naming what is wrong. */
export function parseFeedback(body: unknown): ParsedFeedback {
  const envelope = snsEnvelope.safeParse(body);
  if (envelope.success) {
    if (envelope.data.Type === 'SubscriptionConfirmation') {
      const url = (body as { SubscribeURL?: unknown }).SubscribeURL;
      return { events: [], subscribeUrl: typeof url === 'string' ? url : undefined };
    }
    if (envelope.data.Type !== 'Notification' || !envelope.data.Message) return { events: [] };
    let inner: unknown;
    try {
      inner = JSON.parse(envelope.data.Message);
    } catch {
      throw new FeedbackShapeError('SNS Message is not JSON');
    }
    const ses = sesNotification.safeParse(inner);
    if (!ses.success) throw new FeedbackShapeError(`SNS Message is not an SES notification: ${describe(ses.error)}`);
    return { events: fromSes(ses.data) };
  }
  const raw = sesNotification.safeParse(body);
  if (raw.success && (raw.data.notificationType ?? raw.data.eventType)) return { events: fromSes(raw.data) };
  if (body !== null && typeof body === 'object' && 'events' in body) {
    const batch = stepwiseBatch.safeParse(body);
    if (!batch.success) throw new FeedbackShapeError(describe(batch.error));
    return { events: batch.data.events.map(fromStepwise) };
  }
  const single = stepwiseEvent.safeParse(body);
  if (!single.success) throw new FeedbackShapeError(describe(single.error));
  return { events: [fromStepwise(single.data)] };
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid body';
  return `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`;
}

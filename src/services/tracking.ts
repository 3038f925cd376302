// Recorded facts about sent messages: unsubscribes (from the signed links),
// deliveries, bounces, complaints and replies (from the delivery webhook); opens
// and clicks are written in batches by tracking-recorder.ts. Each is one transaction; the message keeps the first time of each
// fact (so stats count a message once) and every fact is kept as a MessageEvent.
import type { Db, Tx } from '../db/client.js';
import type { EngineContext } from '../engine/context.js';
import { transaction } from '../db/transaction.js';
import type { FeedbackEvent } from '../domain/delivery-feedback.js';
import { optOutEndsRun, statusAfterOptOut, type OptOut } from '../domain/opt-out.js';
import { encodeId, tryDecodeId } from '../domain/public-id.js';
import { statusesBefore, type MessageStatus, type TrackingTarget } from '../domain/tracking-links.js';
import { transitionRuns } from '../engine/lifecycle.js';
import { OPEN_STATUSES, notifyStats, notifyStatsNow } from '../engine/run-status.js';
import type { Prisma } from '../generated/prisma/client.js';
import { recordReply } from './runs.js';
import type { Actor, Caller } from '../auth/actor.js';

// The link key (src/mail/tracking-keys.ts) and the stats wake-up (src/engine/run-status.ts) live below the engine.

// ---------------------------------------------------------------------------
// Message facts

interface MessageFact {
  status?: MessageStatus;
  /** Columns set to the time of the fact unless already set. */
  firstAt: ('deliveredAt' | 'openedAt' | 'clickedAt' | 'bouncedAt' | 'complainedAt' | 'unsubscribedAt')[];
  event: 'OPEN' | 'CLICK' | 'UNSUBSCRIBE' | 'BOUNCE' | 'COMPLAINT' | 'DELIVERY';
  url?: string | null;
  data?: Prisma.InputJsonValue;
}

interface FactMessage {
  id: string;
  workspaceId: string;
  subscriberId: string | null;
}

/** Applies a fact to one message (of `workspaceId`, when given); null when there is no such message. */
async function recordFact(tx: Tx, messageId: string, fact: MessageFact, at: Date, workspaceId: string | null = null): Promise<FactMessage | null> {
  type Row = FactMessage & { status: MessageStatus } & Record<MessageFact['firstAt'][number], Date | null>;
  const [message] = await tx.$queryRaw<Row[]>`
    SELECT id::text, "workspaceId"::text AS "workspaceId", "subscriberId"::text AS "subscriberId", status::text AS status,
      "deliveredAt", "openedAt", "clickedAt", "bouncedAt", "complainedAt", "unsubscribedAt"
    FROM "Message" WHERE id = ${messageId}::uuid AND (${workspaceId}::uuid IS NULL OR "workspaceId" = ${workspaceId}::uuid) FOR UPDATE`;
  if (!message) return null;
  const data: Prisma.MessageUpdateInput = {};
  for (const column of fact.firstAt) if (message[column] === null) data[column] = at;
  if (fact.status && statusesBefore(fact.status).includes(message.status)) data.status = fact.status;
  if (Object.keys(data).length) await tx.message.update({ where: { id: messageId }, data });
  await tx.messageEvent.create({ data: { messageId, type: fact.event, url: fact.url ?? null, data: fact.data, createdAt: at } });
  notifyStats(tx, message.workspaceId);
  return message;
}

/** Stops the subscriber's open runs that the opt-out ends (domain/opt-out.ts). */
async function stopOpenRuns(ctx: EngineContext, tx: Tx, subscriberId: string, optOut: OptOut) {
  const runs = await tx.$queryRaw<{ id: string; transactional: boolean }[]>`
    SELECT e.id::text, s.transactional FROM "Enrollment" e JOIN "Sequence" s ON s.id = e."sequenceId"
    WHERE e."subscriberId" = ${subscriberId}::uuid
      AND e.status::text = ANY(${OPEN_STATUSES as string[]})
    ORDER BY e.id FOR UPDATE OF e`;
  const ids = runs.filter((r) => optOutEndsRun(optOut, r)).map((r) => r.id);
  await transitionRuns(ctx, tx, ids, { kind: 'stop', reason: optOut });
}

/** The subscriber opted out: only transactional email from now on. */
async function optOut(ctx: EngineContext, tx: Tx, subscriberId: string | null, at: Date, reason: 'unsubscribed' | 'complained') {
  if (!subscriberId) return;
  await tx.subscriber.updateMany({ where: { id: subscriberId, status: 'ACTIVE' }, data: { status: statusAfterOptOut(reason), unsubscribedAt: at } });
  await stopOpenRuns(ctx, tx, subscriberId, reason);
}

export interface TrackingRequest {
  userAgent?: string | null;
}

/**
 * Records a verified unsubscribe link. Returns false when the message does not
 * exist in the link's workspace (a preview's links, or a link signed for another
 * workspace): nothing is recorded then. Opens and clicks go through the
 * app's TrackingRecorder (src/services/tracking-recorder.ts), written in batches.
 */
export async function recordUnsubscribe(ctx: EngineContext, target: TrackingTarget, request: TrackingRequest = {}): Promise<boolean> {
  const at = ctx.clock.now();
  const data = request.userAgent ? { userAgent: request.userAgent.slice(0, 500) } : undefined;
  return transaction(ctx, async (tx) => {
    const message = await recordFact(tx, target.messageId, { firstAt: ['unsubscribedAt'], event: 'UNSUBSCRIBE', data }, at, target.workspaceId ?? null);
    if (!message) return false;
    await optOut(ctx, tx, message.subscriberId, at, 'unsubscribed');
    return true;
  });
}

/** Whether a verified link's message exists in the link's workspace (a HEAD request records nothing, but redirects only then). */
export async function trackedMessageExists(db: Db, target: TrackingTarget): Promise<boolean> {
  const found = await db.message.findFirst({
    where: { id: target.messageId, ...(target.workspaceId ? { workspaceId: target.workspaceId } : {}) },
    select: { id: true },
  });
  return found !== null;
}

// ---------------------------------------------------------------------------
// Delivery feedback

export type FeedbackOutcome = 'recorded' | 'unknown-message';

/** A message of the workspace by public id (msg_…) or by its Message-ID header (with or without <>). */
async function findMessageId(actor: Caller, ref: string): Promise<string | null> {
  const uuid = tryDecodeId('Message', ref);
  if (uuid) {
    const found = await actor.runtime.db.message.findFirst({ where: { id: uuid, workspaceId: actor.workspaceId }, select: { id: true } });
    return found?.id ?? null;
  }
  const header = ref.startsWith('<') ? ref : `<${ref}>`;
  const found = await actor.runtime.db.message.findFirst({ where: { smtpMessageId: header, workspaceId: actor.workspaceId }, select: { id: true } });
  return found?.id ?? null;
}

export async function recordFeedback(actor: Caller, event: FeedbackEvent): Promise<FeedbackOutcome> {
  const messageId = await findMessageId(actor, event.messageRef);
  if (!messageId) return 'unknown-message';
  if (event.type === 'reply') {
    await recordReply(actor, { messageId: encodeId('Message', messageId), sentiment: event.sentiment, fromPrimary: event.fromPrimary });
    notifyStatsNow(actor.runtime.db, actor.workspaceId);
    return 'recorded';
  }
  const at = actor.runtime.clock.now();
  await transaction(actor.runtime, async (tx) => {
    if (event.type === 'delivery') {
      await recordFact(tx, messageId, { status: 'DELIVERED', firstAt: ['deliveredAt'], event: 'DELIVERY' }, at);
    } else if (event.type === 'complaint') {
      const message = await recordFact(tx, messageId, { firstAt: ['complainedAt', 'unsubscribedAt'], event: 'COMPLAINT', data: { detail: event.detail } }, at);
      await optOut(actor.runtime, tx, message?.subscriberId ?? null, at, 'complained');
    } else if (!event.hard) {
      await recordFact(tx, messageId, { firstAt: [], event: 'BOUNCE', data: { hard: false, detail: event.detail } }, at);
    } else {
      const message = await recordFact(tx, messageId, { status: 'BOUNCED', firstAt: ['bouncedAt'], event: 'BOUNCE', data: { hard: true, detail: event.detail } }, at);
      if (message?.subscriberId) {
        await tx.subscriber.updateMany({ where: { id: message.subscriberId, status: { not: 'BOUNCED' } }, data: { status: statusAfterOptOut('bounced'), bouncedAt: at } });
        await stopOpenRuns(actor.runtime, tx, message.subscriberId, 'bounced');
      }
    }
  });
  return 'recorded';
}

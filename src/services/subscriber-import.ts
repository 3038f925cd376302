// upsertSubscribers: a contact import of 1 to 1,000 subscribers in one
// transaction. Each item is upserted exactly as upsertSubscriber does, inside
// its own savepoint, so an item that fails (an unknown list, a taken email)
// leaves nothing behind and the others go on. Segments are then re-evaluated
// once for the whole batch, and the engine applies every item's facts
// (CONTACT_ADDED, TAG_ADDED, list and segment triggers) set-based.
import type { z } from 'zod';
import type { UserError } from '../domain/errors.js';
import { UserError as InputError } from '../domain/errors.js';
import type { Fact } from '../domain/triggers.js';
import { transaction } from '../db/transaction.js';
import { applyFactsBatch } from '../engine/triggers.js';
import { workspaceDefinitions } from '../engine/definitions.js';
import { subscriberInputSchema, upsertSubscriberInTx } from './audience.js';
import { reevaluateSegments } from './segments.js';
import type { Caller } from '../auth/actor.js';
import { asUserErrors, parseInput } from './user-input.js';

export const MAX_SUBSCRIBERS = 1000;

export type UpsertOutcome = { ok: true; subscriberId: string } | { ok: false; errors: UserError[] };

/** One outcome per item, in input order. */
export async function upsertSubscribers(actor: Caller, rawItems: unknown[]): Promise<UpsertOutcome[]> {
  if (rawItems.length < 1 || rawItems.length > MAX_SUBSCRIBERS) {
    throw new InputError(`Give between 1 and ${MAX_SUBSCRIBERS.toLocaleString('en-US')} subscribers`, ['input', 'subscribers'], 'VALIDATION');
  }
  const outcomes: (UpsertOutcome | undefined)[] = rawItems.map(() => undefined);
  const valid: { index: number; input: z.output<typeof subscriberInputSchema>; field: string[] }[] = [];
  rawItems.forEach((raw, index) => {
    const field = ['input', 'subscribers', String(index)];
    try {
      valid.push({ index, input: parseInput(subscriberInputSchema, raw, field), field });
    } catch (error) {
      const errors = asUserErrors(error);
      if (!errors) throw error;
      outcomes[index] = { ok: false, errors };
    }
  });
  if (valid.length) {
    await transaction(actor.runtime, async (tx) => {
        const changes: { index: number; subscriberId: string; facts: Fact[] }[] = [];
        // Written in email order, so two imports sharing new emails cannot deadlock on
        // them; the triggers still apply in input order (below).
        const byEmail = [...valid].sort((a, b) => (a.input.email < b.input.email ? -1 : a.input.email > b.input.email ? 1 : a.index - b.index));
        for (const item of byEmail) {
          await tx.$executeRaw`SAVEPOINT upsert_item`;
          try {
            const { id, facts } = await upsertSubscriberInTx(tx, actor, item.input, item.field);
            await tx.$executeRaw`RELEASE SAVEPOINT upsert_item`;
            changes.push({ index: item.index, subscriberId: id, facts });
            outcomes[item.index] = { ok: true, subscriberId: id };
          } catch (error) {
            const errors = asUserErrors(error);
            if (!errors) throw error;
            await tx.$executeRaw`ROLLBACK TO SAVEPOINT upsert_item`;
            outcomes[item.index] = { ok: false, errors };
          }
        }
        changes.sort((a, b) => a.index - b.index);
        // Segments once for the batch; what a subscriber entered counts with its last item.
        const subscriberIds = [...new Set(changes.map((c) => c.subscriberId))];
        const definitions = await workspaceDefinitions(tx, actor.workspaceId);
        const entered = await reevaluateSegments(tx, actor.workspaceId, subscriberIds, actor.runtime.clock.now(), definitions);
        const last = new Map(changes.map((c, n) => [c.subscriberId, n]));
        const withSegments = changes.map((c, n) => ({
          workspaceId: actor.workspaceId,
          subscriberId: c.subscriberId,
          facts:
            last.get(c.subscriberId) === n
              ? [...c.facts, ...entered.filter((e) => e.subscriberId === c.subscriberId).map((e) => ({ kind: 'segment_entered' as const, segmentId: e.segmentId }))]
              : c.facts,
        }));
        await applyFactsBatch(actor.runtime, tx, actor.workspaceId, withSegments, definitions);
      },
      { timeout: 120_000 },
    );
  }
  return outcomes.map((o) => o!);
}

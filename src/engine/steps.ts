// A sequence's steps replaced as a whole (an edit, a generated draft), below the
// services so the engine's generation job can use it too.
import type { Tx } from '../db/client.js';
import { notFound } from '../domain/errors.js';
import { importHtml } from '../domain/html-import.js';
import { tryDecodeId } from '../domain/public-id.js';
import type { StepDefinition } from '../domain/sequence-input.js';
import { Prisma } from '../generated/prisma/client.js';
import type { EngineContext } from './context.js';

/**
 * Makes the sequence's live steps exactly `steps`, in order. A step input that
 * names the ID of one of the sequence's live steps updates it in place, so runs
 * and stats keep pointing at it; steps left out are retired (their history stays).
 */
export async function replaceSteps(ctx: Pick<EngineContext, 'clock'>, tx: Tx, sequenceId: string, steps: StepDefinition[]) {
  const live = await tx.step.findMany({ where: { sequenceId, position: { not: null } }, select: { id: true } });
  const liveIds = new Set(live.map((s) => s.id));
  const keptIds = steps.map((step, i) => {
    if (step.id == null) return null;
    const uuid = tryDecodeId('Step', step.id);
    if (!uuid || !liveIds.has(uuid)) throw notFound('Step', ['input', 'steps', String(i), 'id']);
    return uuid;
  });
  // Positions are unique per sequence: clear them all before assigning the new order.
  await tx.step.updateMany({ where: { sequenceId, position: { not: null } }, data: { position: null, versionPosition: null } });
  const retired = [...liveIds].filter((id) => !keptIds.includes(id));
  if (retired.length) await tx.step.updateMany({ where: { id: { in: retired } }, data: { removedAt: ctx.clock.now() } });

  for (const [i, step] of steps.entries()) {
    const data = {
      position: i + 1,
      versionPosition: i + 1,
      type: step.type,
      name: step.name ?? null,
      delayDays: step.delay.days,
      delayHours: step.delay.hours,
      delayMinutes: step.delay.minutes,
      dateOffsetMinutes: step.dateOffset ?? null,
      subject: step.subject ?? null,
      previewText: step.previewText ?? null,
      blocks: step.type === 'EMAIL' ? ((step.blocks ?? importHtml(step.html!)) as Prisma.InputJsonValue) : Prisma.DbNull,
      discount: step.discount ? (JSON.parse(JSON.stringify(step.discount)) as Prisma.InputJsonValue) : Prisma.DbNull,
    };
    const keptId = keptIds[i];
    if (keptId) await tx.step.update({ where: { id: keptId }, data });
    else await tx.step.create({ data: { ...data, sequenceId } });
  }
}

// Compiled email templates in the database (the CompiledEmail table): a step
// version's email is compiled when its sequence goes live and stored, so that
// workers fill it without loading MJML, whose half second of module loading was
// most of a worker's start; a shape first compiled by a worker is stored too.
// Stored templates are a cache: failing to store one only means compiling again.
import { dbExecute } from '../db/transaction.js';
import { Prisma } from '../generated/prisma/client.js';
import { compiledStep, takeUnstored } from '../mail/compiled-email.js';
import { likelyShape } from '../mail/render.js';
import type { EngineContext } from './context.js';

/** A step's stored templates (key → template) as one JSON value, null when none: `step` names the step's id column. */
export const storedTemplatesOf = (step: Prisma.Sql) =>
  Prisma.sql`(SELECT json_object_agg(c.key, c.template) FROM "CompiledEmail" c WHERE c."stepId" = ${step})`;

/** Stores the templates this process compiled since the last call. */
export async function storeCompiledEmails(ctx: Pick<EngineContext, 'db'>): Promise<void> {
  const rows = takeUnstored();
  if (!rows.length) return;
  try {
    // A step deleted meanwhile is skipped; ids that are not steps' (a preview's stand-in) fail the cast, caught below.
    await dbExecute(
      ctx.db,
      Prisma.sql`
      INSERT INTO "CompiledEmail" ("stepId", key, template)
      SELECT u.step, u.key, u.template
      FROM unnest(${rows.map((r) => r.stepId)}::uuid[], ${rows.map((r) => r.key)}::text[], ${rows.map((r) => JSON.stringify(r.template))}::jsonb[]) AS u(step, key, template)
      WHERE EXISTS (SELECT 1 FROM "Step" s WHERE s.id = u.step)
      ON CONFLICT DO NOTHING`,
    );
  } catch (error) {
    console.error('compiled email templates not stored', error);
  }
}

/**
 * Compiles the live email steps of a sequence that just went live (enabled, a
 * version published) in their likely shape, and stores them. Never fails the
 * caller: a step left uncompiled is compiled by the first worker that needs it.
 */
export async function compileLiveSteps(ctx: Pick<EngineContext, 'db'>, sequenceId: string): Promise<void> {
  try {
    const steps = await ctx.db.$queryRaw<
      { id: string; subject: string | null; previewText: string | null; blocks: unknown; transactional: boolean; compiled: Record<string, unknown> | null }[]
    >`
      SELECT s.id::text AS id, s.subject, s."previewText", s.blocks, q.transactional,
        ${storedTemplatesOf(Prisma.raw('s.id'))} AS compiled
      FROM "Step" s JOIN "Sequence" q ON q.id = s."sequenceId"
      WHERE s."sequenceId" = ${sequenceId}::uuid AND s.position IS NOT NULL AND s.type = 'EMAIL' AND s.blocks IS NOT NULL`;
    for (const step of steps) {
      // Already stored (a sequence enabled again): nothing is compiled.
      const compiled = compiledStep(step, step.transactional, step.compiled);
      await compiled.html(likelyShape(compiled.blocks, step.previewText));
    }
  } catch (error) {
    console.error(`sequence ${sequenceId}: email steps not compiled`, error);
  }
  await storeCompiledEmails(ctx);
}

// Segment membership: keeps SegmentMembership in step with the definitions.
// Entering (a new row) is what SEGMENT_ENTERED fires on. Set-based: one
// statement evaluates every segment of the workspace for a whole batch of
// subscribers (each definition compiled to one SQL predicate) and writes the
// entries and exits; a concurrent writer's entry is not entered twice.
import { segmentDefinitionSchema, type SegmentDefinition } from '../domain/segment.js';
import type { Tx } from '../db/client.js';
import { txQueryText } from '../db/transaction.js';
import { compileSegment, Params } from './segment-sql.js';
import { workspaceDefinitions, type WorkspaceDefinitions } from '../engine/definitions.js';

export interface SegmentRow {
  id: string;
  definition: unknown;
}

export interface SegmentEntry {
  segmentId: string;
  subscriberId: string;
}

// Bind parameters per statement, well under Postgres' 65,535; a definition has at most ~300.
const MAX_PARAMS = 20_000;

/**
 * Re-evaluates every segment of the workspace for `subscriberIds` (a batch of
 * changed subscribers) and syncs memberships. Returns the entries, for
 * SEGMENT_ENTERED triggers. One statement per batch (more only for workspaces
 * with very many segments).
 */
export async function reevaluateSegments(
  tx: Tx,
  workspaceId: string,
  subscriberIds: string[],
  /** Engine time, for conditions relative to now. */
  at: Date,
  definitions?: WorkspaceDefinitions,
): Promise<SegmentEntry[]> {
  if (!subscriberIds.length) return [];
  const { segments } = definitions ?? (await workspaceDefinitions(tx, workspaceId));
  return syncMemberships(tx, workspaceId, segments, subscriberIds, at);
}

/**
 * Syncs `segments` for `subscriberIds`, or for every subscriber of the
 * workspace when it is null (a new segment's first members).
 */
export async function syncMemberships(
  tx: Tx,
  workspaceId: string,
  segments: SegmentRow[],
  subscriberIds: string[] | null,
  /** Engine time, for conditions relative to now. */
  at: Date,
): Promise<SegmentEntry[]> {
  if (!segments.length || subscriberIds?.length === 0) return [];
  const entered: SegmentEntry[] = [];
  // Parameters $1 and $2 are the workspace and the subscribers; segments follow.
  let params = new Params(2);
  let values: string[] = [];
  const flush = async () => {
    if (!values.length) return;
    entered.push(...(await syncStatement(tx, workspaceId, subscriberIds, values, params.values)));
    params = new Params(2);
    values = [];
  };
  for (const segment of segments) {
    const predicate = compileSegment(definitionOf(segment), params, at);
    values.push(`(${params.add(segment.id, 'uuid')}, ${predicate})`);
    if (params.values.length > MAX_PARAMS) await flush();
  }
  await flush();
  return entered;
}

// Parsed once per row: the rows of the cached definitions (engine/definitions.ts) serve every event.
const parsed = new WeakMap<SegmentRow, SegmentDefinition>();
function definitionOf(segment: SegmentRow): SegmentDefinition {
  let definition = parsed.get(segment);
  if (!definition) parsed.set(segment, (definition = segmentDefinitionSchema.parse(segment.definition)));
  return definition;
}

async function syncStatement(
  tx: Tx,
  workspaceId: string,
  subscriberIds: string[] | null,
  values: string[],
  params: unknown[],
): Promise<SegmentEntry[]> {
  const scope = subscriberIds ? `s.id = ANY($2::uuid[]) AND s."workspaceId" = $1::uuid` : `s."workspaceId" = $1::uuid AND $2::uuid[] IS NULL`;
  const sql = `
    WITH evaluated AS (
      SELECT m.segment_id, s.id AS subscriber_id, m.matches
      FROM "Subscriber" s CROSS JOIN LATERAL (VALUES ${values.join(',\n')}) AS m(segment_id, matches)
      WHERE ${scope}
    ), exits AS (
      DELETE FROM "SegmentMembership" sm USING evaluated e
      WHERE NOT e.matches AND sm."segmentId" = e.segment_id AND sm."subscriberId" = e.subscriber_id
    )
    INSERT INTO "SegmentMembership" ("segmentId", "subscriberId")
    SELECT segment_id, subscriber_id FROM evaluated WHERE matches
    ON CONFLICT DO NOTHING
    RETURNING "segmentId"::text AS "segmentId", "subscriberId"::text AS "subscriberId"`;
  return txQueryText<SegmentEntry>(tx, sql, [workspaceId, subscriberIds, ...params]);
}

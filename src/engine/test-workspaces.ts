// Which workspaces are test twins. It never changes (liveWorkspaceId is set when
// a twin is created), so the answer is cached per process: the live path costs a
// lookup in a map after one query per workspace.
import type { Tx } from '../db/client.js';
import type { PrismaClient } from '../generated/prisma/client.js';

const isTwin = new Map<string, boolean>();
/** Workspaces remembered at most (a bound on memory; past it the map starts over). */
const MAX_WORKSPACES = 100_000;

/** The test twins among these workspaces. */
export async function testWorkspaces(tx: Tx | PrismaClient, ids: readonly string[]): Promise<Set<string>> {
  if (isTwin.size >= MAX_WORKSPACES) isTwin.clear();
  const unknown = [...new Set(ids)].filter((id) => !isTwin.has(id));
  if (unknown.length) {
    const rows = await tx.$queryRaw<{ id: string; twin: boolean }[]>`
      SELECT id::text, "liveWorkspaceId" IS NOT NULL AS twin FROM "Workspace" WHERE id = ANY(${unknown}::uuid[])`;
    for (const row of rows) isTwin.set(row.id, row.twin);
  }
  return new Set(ids.filter((id) => isTwin.get(id)));
}

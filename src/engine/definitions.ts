// A workspace's definitions (its active sequences with their first steps, and
// its segments), cached per process so that an event does not load them again.
// The key is Workspace.definitionsVersion, which the database bumps in every
// transaction that writes a sequence, step or segment of the workspace
// (migration 20261130083806_definitions_version): one indexed read per
// transaction tells whether the cache still holds, whichever process wrote.
import type { Tx } from '../db/client.js';
import type { Sequence } from '../generated/prisma/client.js';
import { loadFirstSteps, type FirstStep } from './start-run.js';

export interface WorkspaceDefinitions {
  version: bigint;
  /** ACTIVE sequences, oldest first (the order runs are started in). */
  active: Sequence[];
  firstSteps: Map<string, FirstStep>;
  /** Whether any sequence (whatever its status: its runs may be open) has a stop condition. */
  anyStopCondition: boolean;
  segments: { id: string; definition: unknown }[];
}

const MAX_WORKSPACES = 1_000;
const cache = new Map<string, WorkspaceDefinitions>();

async function versionOf(tx: Tx, workspaceId: string): Promise<bigint | null> {
  const [row] = await tx.$queryRaw<{ version: bigint }[]>`SELECT "definitionsVersion" AS version FROM "Workspace" WHERE id = ${workspaceId}::uuid`;
  return row?.version ?? null;
}

/** The cached definitions, whatever their version: a guess (what to lock early, say) to check against the version before relying on it. */
export function cachedDefinitions(workspaceId: string): WorkspaceDefinitions | undefined {
  return cache.get(workspaceId);
}

/**
 * The workspace's definitions as this transaction sees them (`knownVersion`: the
 * version a statement of the caller just read, saving the read). A miss loads
 * them, then reads the version again: equal, nothing committed in between and
 * the load is cached under it; else it serves this call only.
 */
export async function workspaceDefinitions(tx: Tx, workspaceId: string, knownVersion?: bigint | null): Promise<WorkspaceDefinitions> {
  const version = knownVersion === undefined ? await versionOf(tx, workspaceId) : knownVersion;
  const hit = cache.get(workspaceId);
  if (hit && hit.version === version) return hit;
  const [active, stopping, segments] = [
    await tx.sequence.findMany({ where: { workspaceId, status: 'ACTIVE' }, orderBy: { createdAt: 'asc' } }),
    await tx.sequence.count({ where: { workspaceId, stopConditionType: { not: 'NONE' } } }),
    await tx.segment.findMany({ where: { workspaceId }, select: { id: true, definition: true }, orderBy: { id: 'asc' } }),
  ];
  const loaded: WorkspaceDefinitions = {
    version: version ?? -1n,
    active,
    firstSteps: await loadFirstSteps(tx, active.map((s) => s.id)),
    anyStopCondition: stopping > 0,
    segments,
  };
  if (version !== null && (await versionOf(tx, workspaceId)) === version) {
    if (cache.size >= MAX_WORKSPACES) cache.clear();
    cache.set(workspaceId, loaded);
  }
  return loaded;
}

// API keys: shown once, stored as a SHA-256 hash. A key belongs to one workspace.
// Live keys start with sk_live_ (older ones with sk_), test keys with sk_test_ and
// belong to the live workspace's test twin. What a key can see is decided by its
// workspace, never by its prefix: the prefix is there for people and secret scanners.
import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '../generated/prisma/client.js';

export type KeyMode = 'live' | 'test';

const KEY_PREFIX: Record<KeyMode, string> = { live: 'sk_live_', test: 'sk_test_' };

export function generateApiKey(mode: KeyMode = 'live'): string {
  return `${KEY_PREFIX[mode]}${randomBytes(24).toString('base64url')}`;
}

export function isTestKey(key: string): boolean {
  return key.startsWith(KEY_PREFIX.test);
}

/** What listings show of a key: its mode prefix and a few characters after it. */
const shownPrefix = (key: string) => key.slice(0, 12);

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface ApiKeyOwner {
  workspaceId: string;
  apiKeyId: string;
  /** Set for a test key: the live workspace whose test twin the key's workspace is. */
  liveWorkspaceId: string | null;
}

const OWNER_INCLUDE = { workspace: { select: { liveWorkspaceId: true } } } as const;

function ownerOf(row: { id: string; workspaceId: string; workspace: { liveWorkspaceId: string | null } }): ApiKeyOwner {
  return { workspaceId: row.workspaceId, apiKeyId: row.id, liveWorkspaceId: row.workspace.liveWorkspaceId };
}

/** Creates a workspace with a first key; returns the key (never stored in clear). */
export async function createWorkspaceWithKey(prisma: PrismaClient, workspaceName: string, key = generateApiKey()) {
  const workspace = await prisma.workspace.create({
    data: { name: workspaceName, apiKeys: { create: { name: 'default', hash: hashApiKey(key), prefix: shownPrefix(key) } } },
  });
  return { key, workspaceId: workspace.id };
}

/** Makes sure `key` is a valid key (STEPWISE_API_KEY); creates its workspace the first time. */
export async function ensureApiKey(prisma: PrismaClient, key: string, workspaceName = 'Default'): Promise<ApiKeyOwner> {
  const existing = await prisma.apiKey.findUnique({ where: { hash: hashApiKey(key) }, include: OWNER_INCLUDE });
  if (existing) return ownerOf(existing);
  const { workspaceId } = await createWorkspaceWithKey(prisma, workspaceName, key);
  const created = await prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(key) } });
  return { workspaceId, apiKeyId: created.id, liveWorkspaceId: null };
}

/**
 * A new key of the live workspace's test twin; the twin is created on first use
 * with its test clock frozen at `frozenAt`. Returns null when `liveWorkspaceId` is
 * itself a twin (a test workspace has no twin).
 */
export async function createTestKey(prisma: PrismaClient, liveWorkspaceId: string, frozenAt: Date, name = 'test') {
  const key = generateApiKey('test');
  return prisma.$transaction(async (tx) => {
    // The live row's lock orders two first calls: one creates the twin, the other finds it.
    const [live] = await tx.$queryRaw<{ name: string; liveWorkspaceId: string | null }[]>`
      SELECT name, "liveWorkspaceId"::text AS "liveWorkspaceId" FROM "Workspace" WHERE id = ${liveWorkspaceId}::uuid FOR UPDATE`;
    if (!live) throw new Error(`workspace ${liveWorkspaceId} not found`);
    if (live.liveWorkspaceId) return null;
    const twin =
      (await tx.workspace.findUnique({ where: { liveWorkspaceId }, select: { id: true } })) ??
      (await tx.workspace.create({
        data: { name: `${live.name} (test)`, liveWorkspaceId, testClockTime: frozenAt, testClockStatus: 'READY' },
        select: { id: true },
      }));
    await tx.apiKey.create({ data: { workspaceId: twin.id, name, hash: hashApiKey(key), prefix: shownPrefix(key) } });
    return { key, workspaceId: twin.id };
  });
}

/**
 * Resolves Bearer keys to their workspace. Lookups are cached briefly so a busy
 * client does not cost a query per request; a revoked key stops working within
 * the TTL.
 */
export function createKeyResolver(prisma: PrismaClient, ttlMs = 10_000) {
  const cache = new Map<string, { owner: ApiKeyOwner | null; expires: number }>();
  return async function resolve(key: string): Promise<ApiKeyOwner | null> {
    const hash = hashApiKey(key);
    const hit = cache.get(hash);
    if (hit && hit.expires > Date.now()) return hit.owner;
    const row = await prisma.apiKey.findUnique({ where: { hash }, include: OWNER_INCLUDE });
    const owner = row && !row.revokedAt ? ownerOf(row) : null;
    if (cache.size > 10_000) cache.clear();
    cache.set(hash, { owner, expires: Date.now() + ttlMs });
    return owner;
  };
}

/** The key from an `Authorization: Bearer <key>` value, or null. */
export function bearerKey(header: string | null | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

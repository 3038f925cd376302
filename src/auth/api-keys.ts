// API keys: shown once, stored as a SHA-256 hash. A key belongs to one workspace.
import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '../generated/prisma/client.js';

const KEY_PREFIX = 'sk_';

export function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface ApiKeyOwner {
  workspaceId: string;
  apiKeyId: string;
}

/** Creates a workspace with a first key; returns the key (never stored in clear). */
export async function createWorkspaceWithKey(prisma: PrismaClient, workspaceName: string, key = generateApiKey()) {
  const workspace = await prisma.workspace.create({
    data: { name: workspaceName, apiKeys: { create: { name: 'default', hash: hashApiKey(key), prefix: key.slice(0, 8) } } },
  });
  return { key, workspaceId: workspace.id };
}

/** Makes sure `key` is a valid key (STEPWISE_API_KEY); creates its workspace the first time. */
export async function ensureApiKey(prisma: PrismaClient, key: string, workspaceName = 'Default'): Promise<ApiKeyOwner> {
  const existing = await prisma.apiKey.findUnique({ where: { hash: hashApiKey(key) } });
  if (existing) return { workspaceId: existing.workspaceId, apiKeyId: existing.id };
  const { workspaceId } = await createWorkspaceWithKey(prisma, workspaceName, key);
  const created = await prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(key) } });
  return { workspaceId, apiKeyId: created.id };
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
    const row = await prisma.apiKey.findUnique({ where: { hash } });
    const owner = row && !row.revokedAt ? { workspaceId: row.workspaceId, apiKeyId: row.id } : null;
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

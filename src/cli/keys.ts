// `npm run keys -- create <workspace name> [--test]`: creates a workspace and
// prints its API key once (only its hash is stored). With --test it also creates
// the workspace's test twin and prints a test key for it.
import { createTestKey, createWorkspaceWithKey } from '../auth/api-keys.js';
import { systemClock } from '../clock.js';
import { parseConfig } from '../config.js';
import { createPrismaClient } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { encodeId } from '../domain/public-id.js';

const args = process.argv.slice(2);
const test = args.includes('--test');
const [command, ...nameParts] = args.filter((a) => a !== '--test');
const name = nameParts.join(' ').trim();
if (command !== 'create' || !name) {
  console.error('usage: npm run keys -- create <workspace name> [--test]');
  process.exit(2);
}
const config = parseConfig();
const database = await openDatabase(config);
await migrate(database.url);
const prisma = createPrismaClient(database.url);
const { key, workspaceId } = await createWorkspaceWithKey(prisma, name);
console.log(`Workspace "${name}" (${encodeId('Workspace', workspaceId)})`);
console.log(`API key (shown once): ${key}`);
if (test) {
  const frozenAt = systemClock.now();
  const twin = (await createTestKey(prisma, workspaceId, frozenAt))!;
  console.log(`Test workspace (${encodeId('Workspace', twin.workspaceId)}), its clock frozen at ${frozenAt.toISOString()}`);
  console.log(`Test key (shown once): ${twin.key}`);
}
await prisma.$disconnect();
await database.stop();

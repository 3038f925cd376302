// `npm run keys -- create <workspace name>`: creates a workspace and prints its
// API key once (only its hash is stored).
import { createWorkspaceWithKey } from '../auth/api-keys.js';
import { parseConfig } from '../config.js';
import { connectDb, disconnectDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { encodeId } from '../domain/public-id.js';

const [command, ...nameParts] = process.argv.slice(2);
const name = nameParts.join(' ').trim();
if (command !== 'create' || !name) {
  console.error('usage: npm run keys -- create <workspace name>');
  process.exit(2);
}
const config = parseConfig();
const database = await openDatabase(config);
await migrate(database.url);
const prisma = connectDb(database.url);
const { key, workspaceId } = await createWorkspaceWithKey(prisma, name);
console.log(`Workspace "${name}" (${encodeId('Workspace', workspaceId)})`);
console.log(`API key (shown once): ${key}`);
await disconnectDb();
await database.stop();

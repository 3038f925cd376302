// `npm run migration:create -- <name>`: writes prisma/migrations/<timestamp>_<name>/
// with the SQL that takes the checked-in migrations to schema.prisma, computed by
// replaying them on a throwaway shadow database.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from '../config.js';
import { pendingSchemaChange, migrationsDir } from './schema-engine.js';
import { withScratchDatabase } from './scratch-database.js';

const name = (process.argv[2] ?? 'change').replace(/[^a-z0-9_]+/gi, '_').toLowerCase();
const config = parseConfig();

const sql = await withScratchDatabase(config, (url) => pendingSchemaChange(url));
if (!sql) {
  console.log('schema.prisma and prisma/migrations agree: no migration needed.');
} else {
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dir = join(migrationsDir, `${stamp}_${name}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'migration.sql'), sql);
  await writeFile(join(migrationsDir, 'migration_lock.toml'), 'provider = "postgresql"\n');
  console.log(`wrote ${dir}/migration.sql`);
}
process.exit(0);
